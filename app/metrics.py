"""Prometheus metrics, one registry per running app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
DURATION_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deployments = Gauge(
            "capstan_deployments",
            "Deployments by status, as stored in the database",
            ["status"],
            registry=self.registry,
        )
        self.queue = Gauge(
            "capstan_queue_jobs", "Jobs in the queue by state", ["state"], registry=self.registry
        )
        self.stage_seconds = Histogram(
            "capstan_stage_duration_seconds",
            "Duration of stage attempts run by this process, by outcome",
            ["status"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.start_latency = Histogram(
            "capstan_trigger_to_start_seconds",
            "Time from a trigger to its deployment's first stage starting",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.finished = Counter(
            "capstan_deployments_finished",
            "Deployments finished by this process, by final status",
            ["status"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
