"""Who produces and who consumes each event, and the AsyncAPI 3.0 document built from it.

The document is generated from the event models in events.py (pydantic's JSON
schemas), so it cannot drift from what is really sent; the catalog below is checked
against each service's handlers and `record_event` calls by tests/contracts.
"""

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from tally_shared.events.broker import Topology
from tally_shared.events.models import (
    EVENT_TYPES,
    Envelope,
    Event,
    PostCreated,
    PostDeleted,
    PostUpdated,
    UserDeleted,
    UserRegistered,
    VoteCast,
    VoteRetracted,
)

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"
SCHEMA_REF_TEMPLATE = "#/components/schemas/{model}"


@dataclass(frozen=True)
class EventFlow:
    """The service that publishes an event, and what each consuming service does with it."""

    producer: str
    consumers: dict[str, str]


EVENT_CATALOG: dict[type[Event], EventFlow] = {
    UserRegistered: EventFlow("auth", {"posts": "adds the user to its replica of users"}),
    UserDeleted: EventFlow(
        "auth",
        {
            "posts": "deletes the user's posts and tombstones the user",
            "votes": "deletes the user's votes and retracts them from the counts",
            "gateway": "adds the user to `revoked_users`: their tokens get 401",
        },
    ),
    PostCreated: EventFlow("posts", {"votes": "adds the post to its replica of posts"}),
    PostUpdated: EventFlow("posts", {"votes": "updates its replica if `revision` is higher than the replica's"}),
    PostDeleted: EventFlow("posts", {"votes": "tombstones the post and deletes its votes"}),
    VoteCast: EventFlow("votes", {"posts": "adds 1 to the post's count"}),
    VoteRetracted: EventFlow("votes", {"posts": "takes 1 from the post's count"}),
}


def consumed_by(service: str) -> set[type[Event]]:
    return {event_class for event_class, flow in EVENT_CATALOG.items() if service in flow.consumers}


def produced_by(service: str) -> set[type[Event]]:
    return {event_class for event_class, flow in EVENT_CATALOG.items() if flow.producer == service}


def message_name(event_class: type[Event]) -> str:
    return event_class.__name__


def asyncapi_document(namespace: str = "tally") -> dict[str, Any]:
    """Every event of the system as an AsyncAPI 3.0 document, for the exchanges of `namespace`."""
    missing = set(EVENT_TYPES.values()) - set(EVENT_CATALOG)
    if missing:
        raise ValueError(f"events without a producer in EVENT_CATALOG: {sorted(c.__name__ for c in missing)}")
    topology = Topology(namespace)
    schemas: dict[str, Any] = {}
    envelope_schema = _hoisted_schema(Envelope, schemas)
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for event_class, flow in EVENT_CATALOG.items():
        name = message_name(event_class)
        schemas[name] = _hoisted_schema(event_class, schemas)
        messages[name] = _message(event_class, envelope_schema)
        channels[name] = {
            "address": event_class.type,
            "title": event_class.type,
            "description": f"Routing key `{event_class.type}` on the topic exchange `{topology.events_exchange}`.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": topology.events_exchange,
                        "type": "topic",
                        "durable": True,
                        "autoDelete": False,
                        "vhost": "/",
                    },
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        }
        channel_ref = {"$ref": f"#/channels/{name}"}
        message_ref = {"$ref": f"#/channels/{name}/messages/{name}"}
        operations[f"{flow.producer}.send{name}"] = {
            "action": "send",
            "channel": channel_ref,
            "messages": [message_ref],
            "summary": f"{flow.producer} publishes `{event_class.type}` through its outbox and relay.",
            "tags": [{"name": flow.producer}],
            "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True, "bindingVersion": AMQP_BINDING_VERSION}},
        }
        for consumer, effect in flow.consumers.items():
            operations[f"{consumer}.receive{name}"] = {
                "action": "receive",
                "channel": channel_ref,
                "messages": [message_ref],
                "summary": f"{consumer} {effect}.",
                "description": f"Consumed from the quorum queue `{topology.queue(consumer)}`, "
                f"dead-lettered to `{topology.dead_letter_queue(consumer)}`.",
                "tags": [{"name": consumer}],
                "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING_VERSION}},
            }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Tally events",
            "version": "1.0.0",
            "description": "Every event Tally's services exchange through RabbitMQ: one JSON envelope per "
            "message, the event type as routing key, `data` typed per event. Generated from "
            "tally_shared.events; docs/events.md tells how events move.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def _message(event_class: type[Event], envelope_schema: dict[str, Any]) -> dict[str, Any]:
    payload = {
        **envelope_schema,
        "title": f"{message_name(event_class)}Envelope",
        "properties": {
            **envelope_schema["properties"],
            "type": {"const": event_class.type},
            "version": {"const": event_class.version},
            "data": {"$ref": SCHEMA_REF_TEMPLATE.format(model=message_name(event_class))},
        },
    }
    message = {
        "name": event_class.type,
        "title": f"{event_class.type} v{event_class.version}",
        "contentType": "application/json",
        "payload": payload,
        "bindings": {"amqp": {"messageType": event_class.type, "bindingVersion": AMQP_BINDING_VERSION}},
    }
    if event_class.__doc__:
        message["summary"] = event_class.__doc__.strip().split("\n\n")[0]
    return message


def _hoisted_schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of what the model sends, its nested models moved to the document's components."""
    schema = model.model_json_schema(ref_template=SCHEMA_REF_TEMPLATE, mode="serialization")
    schemas.update(schema.pop("$defs", {}))
    return schema
