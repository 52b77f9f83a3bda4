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
import psycopg2
import psycopg2.extensions
from aio_pika.abc import AbstractExchange
from aiormq.exceptions import DeliveryError
from sqlalchemy import Row, Table, func, select, text, update
from sqlalchemy.orm import Session

from tally_shared.broker import Topology, connect, declare_events_exchange
from tally_shared.database import Database
from tally_shared.observability import (
    EVENTS_PUBLISH_FAILURES,
    EVENTS_PUBLISHED,
    REQUEST_ID_HEADER,
    configure_logging,
)
from tally_shared.outbox import notify_channel
from tally_shared.process import run_until_signalled
from tally_shared.settings import ServiceSettings

logger = logging.getLogger(__name__)

# A row the broker refused (unroutable, nacked) is retried after this many
# seconds, doubling per attempt up to the cap.
RETRY_BASE_SECONDS = 0.5
RETRY_CAP_SECONDS = 30.0


@dataclass(frozen=True)
class RelayTuning:
    batch_size: int = 500
    publish_timeout: float = 5.0
    # Safety net only: NOTIFY wakes the relay the moment a change commits.
    idle_poll_seconds: float = 5.0
    reconnect_delay_seconds: float = 1.0


class _Listener:
    """LISTEN on the outbox channel, read from the event loop without a thread."""

    def __init__(self, dsn: str, channel: str, wake: asyncio.Event) -> None:
        self._dsn = dsn
        self._channel = channel
        self._wake = wake
        self._connection: psycopg2.extensions.connection | None = None

    def ensure_listening(self) -> None:
        if self._connection is not None and not self._connection.closed:
            return
        try:
            connection = psycopg2.connect(self._dsn, connect_timeout=5)
            connection.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
            with connection.cursor() as cursor:
                cursor.execute(f'LISTEN "{self._channel}"')
        except psycopg2.Error as error:
            logger.warning("cannot LISTEN for outbox rows yet (%s); polling meanwhile", error)
            return
        self._connection = connection
        asyncio.get_running_loop().add_reader(connection.fileno(), self._on_readable)
        self._wake.set()  # rows may have been committed while we were not listening

    def _on_readable(self) -> None:
        assert self._connection is not None
        try:
            self._connection.poll()
        except psycopg2.Error:
            logger.warning("outbox LISTEN connection lost; reconnecting")
            self.close()
            self._wake.set()
            return
        if self._connection.notifies:
            self._connection.notifies.clear()
            self._wake.set()

    def close(self) -> None:
        if self._connection is None:
            return
        try:
            asyncio.get_running_loop().remove_reader(self._connection.fileno())
        except (ValueError, OSError):
            pass
        self._connection.close()
        self._connection = None


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
        self._wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set; survives broker and database outages."""
        dsn = self._database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        listener = _Listener(dsn, notify_channel(self._settings.schema), self._wake)
        try:
            while not stop.is_set():
                try:
                    await self._run_connected(stop, listener)
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    logger.warning("relay paused: %s; retrying", error)
                    await _sleep_unless(stop, self._tuning.reconnect_delay_seconds)
        finally:
            listener.close()

    async def _run_connected(self, stop: asyncio.Event, listener: _Listener) -> None:
        connection = await connect(self._settings, f"{self._settings.service_name}-relay")
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await declare_events_exchange(channel, self._topology)
            logger.info("relay publishing to %s", self._topology.events_exchange)
            while not stop.is_set():
                listener.ensure_listening()
                self._wake.clear()
                claimed = await self.publish_pending(exchange)
                if claimed < self._tuning.batch_size:
                    await _wait_any(stop, self._wake, self._tuning.idle_poll_seconds)
        finally:
            await connection.close()

    async def publish_pending(self, exchange: AbstractExchange) -> int:
        """Publish one batch of due rows; returns how many rows it claimed."""
        session = self._database.sessions()
        try:
            rows = await asyncio.to_thread(self._claim_due_rows, session)
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
            await asyncio.to_thread(self._mark, session, rows, refused)
            for row in rows:
                if row.id not in refused:
                    EVENTS_PUBLISHED.labels(row.event_type).inc()
            return len(rows)
        finally:
            await asyncio.to_thread(session.close)

    def _claim_due_rows(self, session: Session) -> Sequence[Row]:
        outbox = self._outbox
        return session.execute(
            select(outbox.c.id, outbox.c.event_type, outbox.c.envelope, outbox.c.attempts)
            .where(outbox.c.published_at.is_(None), outbox.c.next_attempt_at <= func.now())
            .order_by(outbox.c.id)
            .limit(self._tuning.batch_size)
            .with_for_update(skip_locked=True)
        ).all()

    async def _publish(self, exchange: AbstractExchange, row: Row) -> None:
        envelope = row.envelope
        headers = {REQUEST_ID_HEADER: envelope["request_id"]} if envelope.get("request_id") else {}
        message = aio_pika.Message(
            body=json.dumps(envelope, separators=(",", ":")).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=envelope["id"],
            type=row.event_type,
            app_id=envelope["producer"],
            headers=headers,
        )
        await exchange.publish(
            message,
            routing_key=row.event_type,
            mandatory=True,
            timeout=self._tuning.publish_timeout,
        )

    def _mark(self, session: Session, rows: Sequence[Row], refused: dict[int, str]) -> None:
        outbox = self._outbox
        published_ids = [row.id for row in rows if row.id not in refused]
        if published_ids:
            session.execute(update(outbox).where(outbox.c.id.in_(published_ids)).values(published_at=func.now()))
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
                session.execute(
                    update(outbox)
                    .where(outbox.c.id == row.id)
                    .values(
                        attempts=outbox.c.attempts + 1,
                        last_error=refused[row.id],
                        next_attempt_at=func.now() + text(f"interval '{delay} seconds'"),
                    )
                )
        session.commit()


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


def run_relay(settings: ServiceSettings, *, outbox: Table) -> None:
    """The whole of a service's `python -m <service>.relay` process, until SIGTERM."""
    process_name = f"{settings.service_name}-relay"
    configure_logging(process_name, settings.log_level)

    async def relay(stop: asyncio.Event) -> None:
        database = Database(settings.database_url.get_secret_value(), application_name=process_name, pool_size=2)
        try:
            await OutboxRelay(database=database, outbox=outbox, settings=settings).run(stop)
        finally:
            database.dispose()

    run_until_signalled(relay)
