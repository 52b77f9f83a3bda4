"""RabbitMQ names and topology, declared durable by whoever starts first."""

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue, AbstractRobustConnection

from tally_shared.settings import TallySettings


@dataclass(frozen=True)
class Topology:
    """The names of one stack's exchanges and of one consuming service's queues."""

    namespace: str

    @property
    def events_exchange(self) -> str:
        return f"{self.namespace}.events"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.namespace}.dead-letter"

    def queue(self, service: str) -> str:
        return f"{self.namespace}.{service}"

    def dead_letter_queue(self, service: str) -> str:
        return f"{self.namespace}.{service}.dead-letter"


async def connect(settings: TallySettings, name: str) -> AbstractRobustConnection:
    """A connection that reconnects and re-declares its topology by itself."""
    return await aio_pika.connect_robust(
        settings.amqp_url.get_secret_value(),
        client_properties={"connection_name": name},
        timeout=10,
    )


async def declare_events_exchange(channel: AbstractChannel, topology: Topology) -> AbstractExchange:
    return await channel.declare_exchange(topology.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_service_queue(
    channel: AbstractChannel,
    topology: Topology,
    service: str,
    routing_keys: list[str],
    *,
    delivery_limit: int,
) -> AbstractQueue:
    """The service's quorum queue, bound to its event types, dead-lettering to its own DLQ.

    A message nacked `delivery_limit` times (a poison message) moves to the
    dead-letter queue, where it stays for a person to look at; the queue keeps flowing.
    """
    events = await declare_events_exchange(channel, topology)
    dead_letters = await channel.declare_exchange(
        topology.dead_letter_exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    queue_name = topology.queue(service)
    dead_letter_queue = await channel.declare_queue(
        topology.dead_letter_queue(service),
        durable=True,
        arguments={"x-queue-type": "quorum"},
    )
    await dead_letter_queue.bind(dead_letters, routing_key=queue_name)
    queue = await channel.declare_queue(
        queue_name,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": topology.dead_letter_exchange,
            "x-dead-letter-routing-key": queue_name,
        },
    )
    for routing_key in routing_keys:
        await queue.bind(events, routing_key=routing_key)
    return queue
