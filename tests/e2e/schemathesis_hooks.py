"""schemathesis hooks for test_openapi_conformance.py (loaded through SCHEMATHESIS_HOOKS).

Two values in the API are tokens a client never makes up: schemathesis would draw them
from their schema (any string), and the API rightly refuses a made-up one. Each has its
own tests of what a wrong one gets."""

import uuid

import schemathesis
from schemathesis.core.parameters import ParameterLocation


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """A fresh Idempotency-Key for every request sent, as a client makes one per distinct request,
    and no made-up feed cursor.

    - In every phase the fuzzer draws short keys (`0`, `null`) again and again with different
      bodies, which the API refuses with 422 (test_retries.py tests key reuse). The drawn key
      stays in front, so its odd characters are still sent.
    - A cursor is opaque: only the one a `Link` header gave is valid, and any other is a 400
      (services/posts/tests/test_feed.py tests those). A query drawn to be refused keeps its
      cursor: without it, a query whose only fault was the cursor would be valid, and its 200
      would read as a refused query accepted."""
    key = (case.headers or {}).get("Idempotency-Key")
    if key is not None:
        case.headers["Idempotency-Key"] = f"{key[:200]}-{uuid.uuid4().hex}"
    query_drawn_invalid = case.meta is not None and case.meta.is_negative_at(ParameterLocation.QUERY)
    if case.query and "cursor" in case.query and not query_drawn_invalid:
        del case.query["cursor"]
