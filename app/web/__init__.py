"""The HTTP layer: app factory, route list, handlers."""
