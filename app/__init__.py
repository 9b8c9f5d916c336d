"""Capstan: a self-hosted deployment orchestrator for small teams."""
