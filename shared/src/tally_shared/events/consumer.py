"""The event consumer: applies each event exactly once, acking only after the commit.

Deliveries are applied in batches, many events in one transaction, with the
event ids recorded in the service's inbox table in that same transaction.
A redelivered event finds its id in the inbox and is skipped. An event whose
handler fails is retried alone, and after the queue's delivery limit the broker
moves it to the dead-letter queue while the rest keep flowing.
"""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, StatusCode
from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tally_shared.db.database import Database, is_transient
from tally_shared.events.broker import Topology, connect, declare_service_queue
from tally_shared.events.models import Envelope, Event, UnknownEventError
from tally_shared.process import run_service_process
from tally_shared.settings import ServiceSettings
from tally_shared.telemetry.logs import request_id_var
from tally_shared.telemetry.metrics import EVENTS_CONSUMED, EVENTS_DUPLICATES, EVENTS_REJECTED
from tally_shared.telemetry.tracing import trace_context_from

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Handler = Callable[[AsyncSession, Any, Envelope], Awaitable[None]]
"""Applies one event inside the consumer's transaction; never commits."""

BatchHandler = Callable[[AsyncSession, list[tuple[Any, Envelope]]], Awaitable[None]]
"""Applies every event of its types in a batch at once, after the batch's other events.

Only for events whose effect does not depend on their order (such as the vote
events, whose +1 and -1 add up the same in any order): the batch handler can
then use one statement for many events, in an order that takes row locks
consistently.
"""


@dataclass(frozen=True)
class ConsumerTuning:
    batch_size: int = 200
    # How long to keep a batch open for more deliveries once the first arrived.
    batch_linger_seconds: float = 0.005
    database_retry_seconds: float = 1.0


@dataclass
class _Delivery:
    message: AbstractIncomingMessage
    envelope: Envelope
    event: Event
    # The context of whatever published the event (the relay, within the request that caused it).
    trace_parent: Context


class EventConsumer:
    def __init__(
        self,
        *,
        database: Database,
        inbox: Table,
        settings: ServiceSettings,
        handlers: dict[type[Event], Handler],
        batch_handlers: dict[type[Event], BatchHandler] | None = None,
        tuning: ConsumerTuning = ConsumerTuning(),
    ) -> None:
        self._database = database
        self._inbox = inbox
        self._settings = settings
        self._handlers = {event_class.type: handler for event_class, handler in handlers.items()}
        self._batch_handlers = {event_class.type: handler for event_class, handler in (batch_handlers or {}).items()}
        self._tuning = tuning
        self._topology = Topology(settings.event_namespace)
        self._buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, then finish every delivery already received."""
        service = self._settings.service_name
        connection = await connect(self._settings, f"{service}-worker")
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self._settings.event_prefetch)
            queue = await declare_service_queue(
                channel,
                self._topology,
                service,
                self._event_types(),
                delivery_limit=self._settings.event_delivery_limit,
            )
            consumer_tag = await queue.consume(self._buffer.put)
            logger.info("consuming %s from %s", ", ".join(self._event_types()), queue.name)
            deliveries_closed = asyncio.Event()
            processing = asyncio.create_task(self._process_until(deliveries_closed))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({processing, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if processing.done():
                stopping.cancel()
                processing.result()  # a bug, not an outage: let the supervisor restart us
            logger.info("stopping: no new deliveries, finishing the %d received", self._buffer.qsize())
            await queue.cancel(consumer_tag)
            deliveries_closed.set()
            await processing
        finally:
            await connection.close()

    async def _process_until(self, deliveries_closed: asyncio.Event) -> None:
        while not (deliveries_closed.is_set() and self._buffer.empty()):
            try:
                first = await asyncio.wait_for(self._buffer.get(), timeout=0.1)
            except TimeoutError:
                continue
            if self._tuning.batch_linger_seconds and self._buffer.qsize() < self._tuning.batch_size:
                await asyncio.sleep(self._tuning.batch_linger_seconds)
            await self._process([first, *self._take_buffered(self._tuning.batch_size - 1)])

    def _take_buffered(self, limit: int) -> list[AbstractIncomingMessage]:
        taken: list[AbstractIncomingMessage] = []
        while len(taken) < limit and not self._buffer.empty():
            taken.append(self._buffer.get_nowait())
        return taken

    async def _process(self, messages: Sequence[AbstractIncomingMessage]) -> None:
        deliveries = []
        for message in messages:
            delivery = self._decode(message)
            if delivery is None:
                # Unreadable: no retry can help, so straight to the dead-letter queue.
                EVENTS_REJECTED.inc()
                await _settle(message.reject(requeue=False))
            else:
                deliveries.append(delivery)
        if not deliveries:
            return
        while True:
            try:
                await self._apply_in_one_transaction(deliveries)
            except Exception as error:
                if not is_transient(error):
                    break
                # The database is down, restarting or busy: no event is at fault, so none is
                # returned to the queue (which would count towards dead-lettering it).
                logger.warning("database unavailable (%r); retrying the batch", error)
                await asyncio.sleep(self._tuning.database_retry_seconds)
                continue
            for delivery in deliveries:
                await _settle(delivery.message.ack())
            return
        # Something in the batch failed: apply each alone so one poison event
        # cannot hold back the others.
        for delivery in deliveries:
            try:
                await self._apply_in_one_transaction([delivery])
            except Exception:
                logger.exception(
                    "failed to apply %s %s (delivery %s); returning it to the queue",
                    delivery.envelope.type,
                    delivery.envelope.id,
                    _delivery_count(delivery.message),
                )
                EVENTS_REJECTED.inc()
                await _settle(delivery.message.nack(requeue=True))
            else:
                await _settle(delivery.message.ack())

    def _decode(self, message: AbstractIncomingMessage) -> _Delivery | None:
        try:
            envelope = Envelope.model_validate_json(message.body)
            return _Delivery(message, envelope, envelope.event(), trace_context_from(message.headers))
        except (ValidationError, UnknownEventError) as error:
            logger.error(
                "dead-lettering unreadable message %s (routing key %s): %s",
                message.message_id,
                message.routing_key,
                error,
            )
            return None

    def _event_types(self) -> list[str]:
        return sorted({*self._handlers, *self._batch_handlers})

    async def _apply_in_one_transaction(self, deliveries: Sequence[_Delivery]) -> None:
        """One transaction for `deliveries`, traced: a span for the batch, linked to each event's
        trace, and in each event's own trace a span that lasts until the batch has committed."""
        queue = self._topology.queue(self._settings.service_name)
        event_contexts = [trace.get_current_span(d.trace_parent).get_span_context() for d in deliveries]
        with tracer.start_as_current_span(
            f"process {queue}",
            kind=SpanKind.CONSUMER,
            links=[Link(context) for context in event_contexts if context.is_valid],
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.operation.type": "process",
                "messaging.destination.name": queue,
                "messaging.batch.message_count": len(deliveries),
            },
        ) as batch_span:
            event_spans = {id(d): self._start_event_span(d, queue, batch_span) for d in deliveries}
            try:
                await self._apply_traced(deliveries, event_spans)
            except BaseException as error:
                for span in event_spans.values():
                    span.record_exception(error)
                    span.set_status(StatusCode.ERROR, repr(error))
                raise
            finally:
                for span in event_spans.values():
                    span.end()

    def _start_event_span(self, delivery: _Delivery, queue: str, batch_span: Span) -> Span:
        envelope = delivery.envelope
        attributes = {
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "process",
            "messaging.destination.name": queue,
            "messaging.message.id": str(envelope.id),
            "tally.event.type": envelope.type,
        }
        if envelope.request_id:
            attributes["tally.request_id"] = envelope.request_id
        return tracer.start_span(
            f"apply {envelope.type}",
            context=delivery.trace_parent,
            kind=SpanKind.CONSUMER,
            links=[Link(batch_span.get_span_context())],
            attributes=attributes,
        )

    async def _apply_traced(self, deliveries: Sequence[_Delivery], event_spans: dict[int, Span]) -> None:
        async with self._database.transaction() as session:
            deferred: dict[BatchHandler, list[tuple[Event, Envelope]]] = {}
            first_deliveries = await self._first_deliveries(session, deliveries)
            first_ids = {id(delivery) for delivery in first_deliveries}
            for delivery in deliveries:
                if id(delivery) not in first_ids:
                    event_spans[id(delivery)].set_attribute("tally.event.duplicate", True)
            for delivery in first_deliveries:
                envelope = delivery.envelope
                batch_handler = self._batch_handlers.get(envelope.type)
                if batch_handler is not None:
                    deferred.setdefault(batch_handler, []).append((delivery.event, envelope))
                    continue
                token = request_id_var.set(envelope.request_id)
                try:
                    # Its statements belong to the event's own trace.
                    with trace.use_span(
                        event_spans[id(delivery)], record_exception=False, set_status_on_exception=False
                    ):
                        await self._apply(session, delivery)
                finally:
                    request_id_var.reset(token)
            for batch_handler, events in deferred.items():
                await batch_handler(session, events)
                for _, envelope in events:
                    EVENTS_CONSUMED.labels(envelope.type).inc()

    async def _first_deliveries(self, session: AsyncSession, deliveries: Sequence[_Delivery]) -> list[_Delivery]:
        """Records the batch's event ids in the inbox in one statement; returns the deliveries seen first now."""
        by_id: dict[uuid.UUID, _Delivery] = {}
        for delivery in deliveries:
            by_id.setdefault(delivery.envelope.id, delivery)
        recorded = await session.scalars(
            insert(self._inbox)
            .values([{"event_id": d.envelope.id, "event_type": d.envelope.type} for d in by_id.values()])
            .on_conflict_do_nothing()
            .returning(self._inbox.c.event_id)
        )
        new_ids = set(recorded)
        duplicates = len(deliveries) - len(new_ids)
        if duplicates:
            EVENTS_DUPLICATES.inc(duplicates)
            logger.info("skipping %d event(s) already applied", duplicates)
        return [delivery for event_id, delivery in by_id.items() if event_id in new_ids]

    async def _apply(self, session: AsyncSession, delivery: _Delivery) -> None:
        envelope = delivery.envelope
        handler = self._handlers.get(envelope.type)
        if handler is None:
            logger.warning("no handler for %s; recorded and ignored", envelope.type)
            return
        await handler(session, delivery.event, envelope)
        EVENTS_CONSUMED.labels(envelope.type).inc()
        logger.debug("applied %s %s", envelope.type, envelope.id)


async def _settle(acknowledgement: Awaitable[None]) -> None:
    """Ack or nack; if the channel died meanwhile the broker redelivers, and the inbox dedupes."""
    try:
        await acknowledgement
    except Exception as error:
        logger.warning("could not settle a delivery (%s); it will be redelivered", error)


def _delivery_count(message: AbstractIncomingMessage) -> object:
    return (message.headers or {}).get("x-delivery-count", 0)


def run_worker(
    settings: ServiceSettings,
    *,
    inbox: Table,
    handlers: dict[type[Event], Handler],
    batch_handlers: dict[type[Event], BatchHandler] | None = None,
) -> None:
    """The whole of a service's `python -m <service>.worker` process, until SIGTERM."""

    async def consume(database: Database, stop: asyncio.Event) -> None:
        consumer = EventConsumer(
            database=database, inbox=inbox, settings=settings, handlers=handlers, batch_handlers=batch_handlers
        )
        await consumer.run(stop)

    run_service_process(settings, "worker", consume)
