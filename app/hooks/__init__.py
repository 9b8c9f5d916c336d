"""Webhooks: each provider's deliveries become one plain `Push` at the edge."""
