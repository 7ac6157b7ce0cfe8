"""Prometheus metrics under the names operators' dashboards already know.

`controller_runtime_*` series are labelled by controller (the lowercase kind) and result, like
controller-runtime's, so kubebuilder's Grafana dashboards work unchanged. AWS calls are counted
by service, operation and outcome code; tests and benchmarks read them from the endpoint.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RESULTS = ("success", "error", "requeue", "requeue_after")

reconcile_total = Counter(
    "controller_runtime_reconcile_total",
    "Total number of reconciliations per controller and result.",
    ["controller", "result"],
)
reconcile_errors_total = Counter(
    "controller_runtime_reconcile_errors_total",
    "Total number of reconciliation errors per controller.",
    ["controller"],
)
terminal_reconcile_errors_total = Counter(
    "controller_runtime_terminal_reconcile_errors_total",
    "Total number of terminal reconciliation errors per controller.",
    ["controller"],
)
reconcile_time_seconds = Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Length of time per reconciliation per controller.",
    ["controller"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
active_workers = Gauge(
    "controller_runtime_active_workers",
    "Number of currently used workers per controller.",
    ["controller"],
)
aws_requests_total = Counter(
    "gantry_aws_requests_total",
    "AWS API calls by service, operation and outcome code (Success or the AWS error code).",
    ["service", "operation", "code"],
)
aws_throttles_total = Counter(
    "gantry_aws_throttles_total",
    "AWS API calls answered with a throttling error, by service and operation.",
    ["service", "operation"],
)


def seed(controller: str) -> None:
    """Pre-seed the series at zero so dashboards show a controller before its first event."""
    for result in RESULTS:
        reconcile_total.labels(controller=controller, result=result)
    reconcile_errors_total.labels(controller=controller)
    terminal_reconcile_errors_total.labels(controller=controller)


def serve(address: str) -> None:
    """Serve /metrics on `host:port`; an empty address disables the endpoint."""
    if not address:
        return
    host, _, port = address.rpartition(":")
    start_http_server(int(port), addr=host or "0.0.0.0")
