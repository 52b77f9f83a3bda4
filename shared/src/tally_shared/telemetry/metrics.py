"""The Prometheus metrics every process exposes (served at `/metrics` by the HTTP apps)."""

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["method", "route", "status"])
HTTP_REQUESTS_SHED = Counter("http_requests_shed_total", "Requests answered 503 at once: too many in flight")
HTTP_LATENCY = Histogram("http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"])
DB_POOL_CHECKED_OUT = Gauge(
    "db_pool_connections_checked_out", "Database connections in use by this process right now (the rest are idle)"
)
EVENTS_PUBLISHED = Counter("events_published_total", "Outbox events confirmed by the broker", ["type"])
EVENTS_PUBLISH_FAILURES = Counter("events_publish_failures_total", "Outbox publishes that failed")
EVENTS_CONSUMED = Counter("events_consumed_total", "Events applied by a consumer", ["type"])
EVENTS_DUPLICATES = Counter("events_duplicates_total", "Deliveries skipped as already processed")
EVENTS_REJECTED = Counter("events_rejected_total", "Deliveries that failed and were returned or dead-lettered")
