"""Runs deployments: leases, stage processes, releases, logs."""
