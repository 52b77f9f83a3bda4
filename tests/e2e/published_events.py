"""Every event a stack publishes, checked against the AsyncAPI document the gateway serves."""

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import aio_pika
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from tally_shared.events import Topology, asyncapi_document, declare_events_exchange
from tally_testing import AMQP_URL, wait_for_consumers

DOCUMENT_URI = "urn:tally:asyncapi"


class PublishedEvents:
    """A queue bound with `#` to the stack's exchange before anything publishes, so it keeps a copy
    of every event; `collect()` takes what arrived and checks each against its message's payload
    schema in /asyncapi.json (AsyncAPI schemas are a superset of JSON Schema draft 7)."""

    def __init__(self, namespace: str) -> None:
        self._topology = Topology(namespace)
        self._queue = f"{namespace}.asyncapi-check"
        document = asyncapi_document(namespace)
        registry = Registry().with_resource(
            DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT7)
        )
        self._validators = {
            channel["address"]: Draft7Validator(
                {"$ref": f"{DOCUMENT_URI}{ref['$ref']}/payload"},
                registry=registry,
                format_checker=Draft7Validator.FORMAT_CHECKER,
            )
            for channel in document["channels"].values()
            for ref in channel["messages"].values()
        }
        self.mismatches: list[str] = []

    def bind(self) -> None:
        asyncio.run(self._bind())

    def wait_for_consumers(self, services: Iterable[str], timeout: float = 60) -> None:
        """Until each consuming service's worker consumes its queue, which it binds before it consumes:
        before that, an event would reach only this queue, and the broker would not refuse it."""
        asyncio.run(wait_for_consumers(self._topology.namespace, services, timeout))

    def collect(self) -> list[dict[str, Any]]:
        """The events published since the last call, after checking each (see `mismatches`)."""
        return [
            envelope
            for routing_key, body in asyncio.run(self._drain())
            if (envelope := self._checked(routing_key, body)) is not None
        ]

    def delete(self) -> None:
        asyncio.run(self._delete())

    def _checked(self, routing_key: str, body: bytes) -> dict[str, Any] | None:
        if routing_key not in self._validators:
            self.mismatches.append(f"{routing_key}: no channel in /asyncapi.json: {body[:300]!r}")
            return None
        try:
            envelope = json.loads(body)
        except ValueError:
            self.mismatches.append(f"{routing_key}: not JSON: {body[:300]!r}")
            return None
        errors = [
            f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in self._validators[routing_key].iter_errors(envelope)
        ]
        if errors:
            self.mismatches.append(f"{routing_key}: {envelope} does not match its schema: {errors}")
            return None
        return envelope

    async def _bind(self) -> None:
        async with await aio_pika.connect(AMQP_URL) as connection:
            channel = await connection.channel()
            exchange = await declare_events_exchange(channel, self._topology)
            # A plain classic queue, not a quorum one like the services': the broker is not restarted
            # under a test, and the copy must cost the load tests as little as possible.
            queue = await channel.declare_queue(self._queue, durable=False)
            await queue.bind(exchange, routing_key="#")

    async def _drain(self) -> list[tuple[str, bytes]]:
        received: list[tuple[str, bytes]] = []
        async with await aio_pika.connect(AMQP_URL) as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(self._queue, passive=True)
            # Consumed, not fetched one `get` at a time: a load test leaves tens of thousands.
            waiting = queue.declaration_result.message_count
            if waiting:
                # Acknowledged, not no_ack: what the broker pushes after the count was taken stays
                # unacknowledged, and goes back to the queue for the next call when the channel closes.
                async with queue.iterator() as messages:
                    async for message in messages:
                        received.append((message.routing_key or "", message.body))
                        if len(received) == waiting:
                            await message.ack(multiple=True)
                            break
        return received

    async def _delete(self) -> None:
        async with await aio_pika.connect(AMQP_URL) as connection:
            channel = await connection.channel()
            await channel.queue_delete(self._queue)
