"""Notifications going out: the SSRF guard, each service's native message, and sending it."""
