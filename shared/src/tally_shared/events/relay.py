"""The outbox relay: publishes committed outbox rows to RabbitMQ, at least once, in order.

One relay process per service; more can run side by side because each claims
its batch with FOR UPDATE SKIP LOCKED. A row is marked published only after the
broker confirmed it, in the transaction that holds its lock, so a crash between
publish and mark leaves the row pending and it is published again: consumers
deduplicate on the envelope id.
"""

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractExchange
from aiormq.exceptions import DeliveryError
from opentelemetry import context
from sqlalchemy import Table, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tally_shared.db.database import AnyRow, Database
from tally_shared.db.expiry import keep_purging
from tally_shared.events.broker import Topology, connect, declare_events_exchange
from tally_shared.process import run_service_process
from tally_shared.settings import ServiceSettings
from tally_shared.telemetry.logs import REQUEST_ID_HEADER
from tally_shared.telemetry.metrics import EVENTS_PUBLISH_FAILURES, EVENTS_PUBLISHED
from tally_shared.telemetry.tracing import trace_context_from

logger = logging.getLogger(__name__)

# A row the broker refused (unroutable, nacked) is retried after this many
# seconds, doubling per attempt up to the cap.
RETRY_BASE_SECONDS = 0.5
RETRY_CAP_SECONDS = 30.0


@dataclass(frozen=True)
class RelayTuning:
    """How the relay finds new rows: it polls, from every `poll_min_seconds` while rows keep
    coming to every `poll_max_seconds` when idle (the longest an idle relay takes to notice one).

    Not woken by NOTIFY: PostgreSQL serialises the commits of every transaction that
    sent a NOTIFY in a database (a lock held through the commit's WAL flush), so a NOTIFY
    in each writer's transaction made every vote wait for every other one (measured with
    pgbench here, 20 clients: 8,500 commits/s without it, 960 with it). A poll of the
    pending rows' partial index costs well under a millisecond.
    """

    batch_size: int = 500
    publish_timeout: float = 5.0
    poll_min_seconds: float = 0.01
    poll_max_seconds: float = 0.1
    # After a batch, how long to let more rows commit before claiming again: under a
    # stream of writes, one batch (one transaction, one confirm wait) then carries many rows.
    batch_linger_seconds: float = 0.005
    reconnect_delay_seconds: float = 1.0


class OutboxRelay:
    def __init__(
        self,
        *,
        database: Database,
        outbox: Table,
        settings: ServiceSettings,
        tuning: RelayTuning = RelayTuning(),
    ) -> None:
        self._database = database
        self._outbox = outbox
        self._settings = settings
        self._tuning = tuning
        self._topology = Topology(settings.event_namespace)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set; survives broker and database outages."""
        while not stop.is_set():
            try:
                await self._run_connected(stop)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("relay paused: %r; retrying", error)
                await _sleep_unless(stop, self._tuning.reconnect_delay_seconds)

    async def _run_connected(self, stop: asyncio.Event) -> None:
        connection = await connect(self._settings, f"{self._settings.service_name}-relay")
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await declare_events_exchange(channel, self._topology)
            logger.info("relay publishing to %s", self._topology.events_exchange)
            idle_poll = self._tuning.poll_min_seconds
            while not stop.is_set():
                claimed = await self.publish_pending(exchange)
                if claimed >= self._tuning.batch_size:
                    continue
                if claimed:
                    idle_poll = self._tuning.poll_min_seconds
                    await _sleep_unless(stop, self._tuning.batch_linger_seconds)
                else:
                    await _sleep_unless(stop, idle_poll)
                    idle_poll = min(2 * idle_poll, self._tuning.poll_max_seconds)
        finally:
            await connection.close()

    async def publish_pending(self, exchange: AbstractExchange) -> int:
        """Publish one batch of due rows; returns how many rows it claimed.

        The rows stay locked (FOR UPDATE SKIP LOCKED) while their confirms are awaited,
        so a relay beside this one takes the next rows instead.
        """
        async with self._database.transaction() as session:
            rows = await self._claim_due_rows(session)
            if not rows:
                return 0
            # Issued in id order on one channel, so the broker receives them in order;
            # the confirms are awaited together.
            outcomes = await asyncio.gather(*(self._publish(exchange, row) for row in rows), return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, BaseException) and not isinstance(outcome, DeliveryError):
                    raise outcome  # the connection is gone: leave every row pending
            refused = {
                row.id: repr(outcome)
                for row, outcome in zip(rows, outcomes, strict=True)
                if isinstance(outcome, DeliveryError)
            }
            await self._mark(session, rows, refused)
        for row in rows:
            if row.id not in refused:
                EVENTS_PUBLISHED.labels(row.event_type).inc()
        return len(rows)

    async def _claim_due_rows(self, session: AsyncSession) -> Sequence[AnyRow]:
        outbox = self._outbox
        result = await session.execute(
            select(outbox.c.id, outbox.c.event_type, outbox.c.envelope, outbox.c.attempts)
            .where(outbox.c.published_at.is_(None), outbox.c.next_attempt_at <= func.now())
            .order_by(outbox.c.id)
            .limit(self._tuning.batch_size)
            .with_for_update(skip_locked=True)
        )
        return result.all()

    async def _publish(self, exchange: AbstractExchange, row: AnyRow) -> None:
        envelope = row.envelope
        # The W3C trace headers of the request that wrote the row travel with the message; while
        # it is published, that request's context is current, so a traced relay's publish span
        # (aio-pika's instrumentation) is its child and puts its own context in the headers instead.
        trace_context = envelope.get("trace_context") or {}
        headers = {**trace_context}
        if envelope.get("request_id"):
            headers[REQUEST_ID_HEADER] = envelope["request_id"]
        message = aio_pika.Message(
            body=json.dumps(envelope, separators=(",", ":")).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=envelope["id"],
            type=row.event_type,
            app_id=envelope["producer"],
            headers=headers,
        )
        token = context.attach(trace_context_from(trace_context))
        try:
            await exchange.publish(
                message,
                routing_key=row.event_type,
                mandatory=True,
                timeout=self._tuning.publish_timeout,
            )
        finally:
            context.detach(token)

    async def _mark(self, session: AsyncSession, rows: Sequence[AnyRow], refused: dict[int, str]) -> None:
        outbox = self._outbox
        published_ids = [row.id for row in rows if row.id not in refused]
        if published_ids:
            await session.execute(update(outbox).where(outbox.c.id.in_(published_ids)).values(published_at=func.now()))
        for row in rows:
            if row.id in refused:
                delay = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2**row.attempts)
                logger.error(
                    "broker refused event %s (%s), attempt %d: %s; retrying in %.1fs",
                    row.envelope["id"],
                    row.event_type,
                    row.attempts + 1,
                    refused[row.id],
                    delay,
                )
                EVENTS_PUBLISH_FAILURES.inc()
                await session.execute(
                    update(outbox)
                    .where(outbox.c.id == row.id)
                    .values(
                        attempts=outbox.c.attempts + 1,
                        last_error=refused[row.id],
                        next_attempt_at=func.now() + text(f"interval '{delay} seconds'"),
                    )
                )


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


def run_relay(settings: ServiceSettings, *, outbox: Table, expiring: Sequence[Table] = ()) -> None:
    """The whole of a service's `python -m <service>.relay` process, until SIGTERM; it also
    purges the rows of the `expiring` tables whose time is up (see `expiry.py`)."""

    async def relay(database: Database, stop: asyncio.Event) -> None:
        await asyncio.gather(
            OutboxRelay(database=database, outbox=outbox, settings=settings).run(stop),
            keep_purging(database, expiring, stop),
        )

    run_service_process(settings, "relay", relay)
