"""One trace follows a change from the gateway through the outbox, the relay and RabbitMQ to
every worker that applies its event: a vote, and the cascade of an account deletion."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from conftest import SPANS, Stack
from opentelemetry.instrumentation.utils import suppress_http_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, format_trace_id

PASSWORD = "correct horse battery"
# Generous: the machine may be busy, and a relay publishes rows left pending by earlier runs first.
WAIT_SECONDS = 30


@asynccontextmanager
async def client_of(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the gateway that is not part of the traces: like a browser, it starts none,
    so each request's trace starts at the gateway (httpx is instrumented in this process)."""
    with suppress_http_instrumentation():
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=10) as client:
            yield client


async def new_account(client: httpx.AsyncClient) -> dict[str, str]:
    email = f"user-{uuid.uuid4().hex[:12]}@example.com"
    created = await client.post("/users", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    login = await client.post("/login", data={"username": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def eventually(found: Callable[[], list[ReadableSpan]], what: str) -> list[ReadableSpan]:
    """The spans `found` returns, once it returns any (a worker ends its span after its commit)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not (spans := found()):
        assert time.monotonic() < deadline, f"no {what} within {WAIT_SECONDS} s"
        await asyncio.sleep(0.05)
    return spans


def server_span(stack: Stack, method: str, path: str, component: str) -> ReadableSpan:
    """The one span in which `component` (e.g. `gateway`) answered `method` `path` (e.g. `POST /vote`).

    By path, not by span name: the name holds the route's template (the gateway's is
    `/users/{path:path}` for `/users/me`)."""
    spans = [
        span
        for span in SPANS.get_finished_spans()
        if span.kind == SpanKind.SERVER
        and span.attributes.get("http.request.method") == method
        and span.attributes.get("url.path") == path
        and stack.components_by_port.get(span.attributes.get("server.port")) == component
    ]
    assert len(spans) == 1, f"{len(spans)} spans of {method} {path} at {component}"
    return spans[0]


def applied(stack: Stack, event_type: str, consumer: str, trace_id: int) -> list[ReadableSpan]:
    """The spans in which `consumer`'s worker applied an event of `event_type` within the trace."""
    queue = f"{stack.namespace}.{consumer}"
    return [
        span
        for span in SPANS.get_finished_spans()
        if span.name == f"apply {event_type}"
        and span.attributes.get("messaging.destination.name") == queue
        and span.context.trace_id == trace_id
    ]


def component_of(stack: Stack, span: ReadableSpan) -> str:
    """Which part of the stack emitted `span`, for people reading the printed trace."""
    attributes = span.attributes or {}
    if "server.port" in attributes and span.kind == SpanKind.SERVER:
        return stack.components_by_port.get(attributes["server.port"], "?")
    destination = str(attributes.get("messaging.destination.name", ""))
    if destination.startswith(f"{stack.namespace}.") and span.kind == SpanKind.CONSUMER:
        return destination.removeprefix(f"{stack.namespace}.") + "-worker"
    return span.instrumentation_scope.name.removeprefix("opentelemetry.instrumentation.")


def print_trace(stack: Stack, trace_id: int) -> None:
    """The trace as a tree, in start order (see it with `pytest -s`)."""
    spans = sorted(
        (span for span in SPANS.get_finished_spans() if span.context.trace_id == trace_id),
        key=lambda span: span.start_time,
    )
    children: dict[int | None, list[ReadableSpan]] = {}
    ids = {span.context.span_id for span in spans}
    for span in spans:
        parent = span.parent.span_id if span.parent and span.parent.span_id in ids else None
        children.setdefault(parent, []).append(span)
    print(f"\ntrace {format_trace_id(trace_id)}: {len(spans)} spans")

    def show(parent: int | None, depth: int) -> None:
        for span in children.get(parent, []):
            took = (span.end_time - span.start_time) / 1e6
            print(f"{'  ' * depth}{span.name}  [{component_of(stack, span)}, {span.kind.name.lower()}, {took:.1f} ms]")
            show(span.context.span_id, depth + 1)

    show(None, 0)


async def test_a_vote_is_one_trace_from_the_gateway_to_the_posts_worker(stack: Stack):
    async with client_of(stack) as client:
        voter = await new_account(client)
        post = await client.post("/posts", headers=voter, json={"title": "Traced", "content": "one trace per vote"})
        assert post.status_code == 201, post.text
        post_id = post.json()["id"]

        vote = await client.post("/vote", headers=voter, json={"post_id": post_id, "dir": 1})
        assert vote.status_code == 201, vote.text

        trace_id = server_span(stack, "POST", "/vote", "gateway").context.trace_id
        applied_vote = await eventually(
            lambda: applied(stack, "vote.cast", "posts", trace_id), "vote.cast applied by the posts worker"
        )
        assert (await client.get(f"/posts/{post_id}", headers=voter)).json()["votes"] == 1

    assert len(applied_vote) == 1
    assert applied_vote[0].status.is_ok
    # The votes API answered within the gateway's trace, and its relay published within it too.
    in_trace = [span for span in SPANS.get_finished_spans() if span.context.trace_id == trace_id]
    assert server_span(stack, "POST", "/vote", "votes-api").context.trace_id == trace_id
    assert any(span.kind == SpanKind.PRODUCER and "vote.cast" in span.name for span in in_trace)
    # The worker applied the vote in a batch: the batch's span links to the vote's trace.
    batch = [
        span
        for span in SPANS.get_finished_spans()
        if span.name == f"process {stack.namespace}.posts"
        and any(link.context.trace_id == trace_id for link in span.links)
    ]
    assert len(batch) == 1
    assert [link.context.span_id for link in applied_vote[0].links] == [batch[0].context.span_id]
    print_trace(stack, trace_id)


async def test_an_account_deletion_cascades_within_the_trace_of_delete_users_me(stack: Stack):
    async with client_of(stack) as client:
        author, leaving = await new_account(client), await new_account(client)
        post = await client.post("/posts", headers=author, json={"title": "Stays", "content": "its vote goes"})
        assert post.status_code == 201, post.text
        post_id = post.json()["id"]
        voted = await client.post("/vote", headers=leaving, json={"post_id": post_id, "dir": 1})
        assert voted.status_code == 201, voted.text

        deleted = await client.delete("/users/me", headers=leaving)
        assert deleted.status_code == 204, deleted.text

        trace_id = server_span(stack, "DELETE", "/users/me", "gateway").context.trace_id
        for consumer in ("posts", "votes", "gateway"):
            spans = await eventually(
                lambda consumer=consumer: applied(stack, "user.deleted", consumer, trace_id),
                f"user.deleted applied by the {consumer} worker",
            )
            assert len(spans) == 1 and spans[0].status.is_ok
        # The votes worker retracted the leaving user's vote with an event of its own, which the
        # posts worker applied: the second hop through an outbox, still in the same trace.
        await eventually(
            lambda: applied(stack, "vote.retracted", "posts", trace_id), "vote.retracted applied by the posts worker"
        )
        assert (await client.get(f"/posts/{post_id}", headers=author)).json()["votes"] == 0
    # Each worker's deletions ran within the event's span, so within the request's trace.
    for consumer in ("posts", "votes"):
        applying = applied(stack, "user.deleted", consumer, trace_id)[0]
        statements = [
            span
            for span in SPANS.get_finished_spans()
            if span.parent is not None and span.parent.span_id == applying.context.span_id
        ]
        assert any(span.name.startswith("DELETE") for span in statements), [span.name for span in statements]
    print_trace(stack, trace_id)
