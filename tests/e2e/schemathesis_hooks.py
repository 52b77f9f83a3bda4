"""schemathesis hooks for test_openapi_conformance.py (loaded through SCHEMATHESIS_HOOKS)."""

import uuid

import schemathesis


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """A fresh Idempotency-Key for every request sent, as a client makes one per distinct request.

    In every phase the fuzzer draws short keys (`0`, `null`) again and again with different
    bodies, which the API rightly refuses with 422 (test_retries.py tests key reuse). The drawn
    key stays in front, so its odd characters are still sent."""
    key = (case.headers or {}).get("Idempotency-Key")
    if key is not None:
        case.headers["Idempotency-Key"] = f"{key[:200]}-{uuid.uuid4().hex}"
