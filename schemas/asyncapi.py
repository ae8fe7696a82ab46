"""The AsyncAPI 3.0 document of the whole bus, generated from ``schemas/`` (issue 19): every
topic of ``schemas.topics`` with its retry and dead-letter topics, each message as the
CloudEvents 1.0 envelope (``schemas.envelope``) around its event model (``schemas.events``),
who sends and who receives each (``schemas.bus_access``: the principals, their consumer
groups), the record key, and each topic's partitions and configuration.

``make asyncapi`` writes it to ``docs/asyncapi.json``; every service serves it at
``/asyncapi.json`` beside ``/openapi.json``; ``tests/unit/test_asyncapi.py`` fails when the
committed file differs from ``document()`` and validates it against the AsyncAPI 3.0 JSON
Schema of the pinned ``@asyncapi/specs`` package.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from schemas import events, topics
from schemas.bus_access import PRINCIPALS, Principal
from schemas.codes import Service

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING = "0.5.0"
DOCUMENT_VERSION = "1.0.0"

# Which event types travel on which topic, and the model of their ``data``.
MESSAGES: dict[str, tuple[str, type[BaseModel], str]] = {
    events.REFERRAL_RECEIVED: (
        "ReferralReceived",
        events.ReferralReceived,
        "A referral accepted by intake: its coded facts only (no personal data).",
    ),
    events.REFERRAL_REASSESS: (
        "ReassessmentRequested",
        events.ReassessmentRequested,
        "Intake asks the router to decide again (consent changed, a rejection, an override, "
        "a resubmission).",
    ),
    events.REFERRAL_ROUTED: (
        "ReferralRouted",
        events.ReferralRouted,
        "The router's decision: routes, flags, clocks, the policy version and rule ids.",
    ),
    events.WORK_ITEM: (
        "WorkItem",
        events.WorkItem,
        "One route's work for one provider service: the coded facts it may see.",
    ),
    events.WORK_ITEM_CANCELLED: (
        "WorkItemCancelled",
        events.WorkItemCancelled,
        "A route the provider must stop working (consent withdrawn, superseded).",
    ),
    events.ROUTE_STATUS: (
        "RouteStatusChanged",
        events.RouteStatusChanged,
        "A step in one route's life, reported by the provider's adapter.",
    ),
    events.SLA_BREACHED: (
        "SlaBreached",
        events.SlaBreached,
        "A route missed a clock (acknowledgement, first contact, the Victims' Code deadline).",
    ),
    events.ESCALATED: (
        "Escalated",
        events.SlaBreached,
        "A missed clock that escalates the route (its provider is reminded; a second one "
        "re-routes it).",
    ),
    events.PERSONAL_DATA_ERASED: (
        "PersonalDataErased",
        events.PersonalDataErased,
        "Intake erased the referral's personal data: every provider's work items for it leave "
        "the queue, pushes not yet delivered are withdrawn, later steps answer 410.",
    ),
    events.CONTACT_CHANGED: (
        "ContactChanged",
        events.ContactChanged,
        "Staff changed the person's contact details: which fields (never their values); a "
        "provider must read the details again before contacting the person.",
    ),
}

TOPIC_TYPES: dict[str, tuple[str, ...]] = {
    topics.REFERRAL_RECEIVED: (events.REFERRAL_RECEIVED,),
    topics.REFERRAL_REASSESS: (events.REFERRAL_REASSESS,),
    topics.REFERRAL_ROUTED: (events.REFERRAL_ROUTED,),
    topics.REFERRAL_STATUS: (events.ROUTE_STATUS,),
    topics.REFERRAL_SLA: (events.SLA_BREACHED, events.ESCALATED, events.PERSONAL_DATA_ERASED),
    topics.REFERRAL_CONTACT: (events.CONTACT_CHANGED,),
    **{topics.queue_for(s): (events.WORK_ITEM, events.WORK_ITEM_CANCELLED) for s in Service},
}

KEY = {
    "type": "string",
    "format": "uuid",
    "description": "The referral id (the CloudEvent's subject): every event of one referral "
    "goes to one partition, so consumers see them in order. Never anything personal.",
}
TRACE_HEADERS = {
    "traceparent": {
        "type": "string",
        "description": "W3C Trace Context of the step that produced the event",
    },
    "tracestate": {"type": "string"},
}
RETRY_HEADERS = {
    "retry.consumer": {"type": "string", "description": "The consumer group that failed"},
    "retry.attempt": {"type": "string", "description": "1 to 3"},
    "retry.not_before_ms": {"type": "string", "description": "Epoch ms before which to wait"},
    "retry.origin_topic": {"type": "string"},
    "retry.origin_partition": {"type": "string"},
    "retry.origin_offset": {"type": "string"},
    "error.type": {"type": "string", "description": "The exception's class, never its text"},
}
DEAD_LETTER_HEADERS = {
    "error.topic": {"type": "string", "description": "Where the record came from"},
    "error.partition": {"type": "string"},
    "error.offset": {"type": "string"},
    "error.consumer": {"type": "string"},
    "error.type": {"type": "string"},
    "error.message": {
        "type": "string",
        "description": "What was wrong (field names, never values)",
    },
    "error.attempts": {"type": "string"},
    "error.at": {"type": "string", "format": "date-time"},
}


def _schemas() -> tuple[dict[str, Any], dict[str, str]]:
    """Every event model's JSON Schema under ``components.schemas``, with its definitions
    beside it; and the reference of each model."""
    found: dict[str, Any] = {}
    refs: dict[str, str] = {}
    for _, model, _ in MESSAGES.values():
        name = model.__name__
        if name in refs:
            continue
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        found.update(schema.pop("$defs", {}))
        found[name] = schema
        refs[name] = f"#/components/schemas/{name}"
    return found, refs


def _envelope(type_: str, data_ref: str) -> dict[str, Any]:
    """The CloudEvents 1.0 structured-mode envelope (``schemas.envelope.CloudEvent``)."""
    return {
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "subject", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {
                "type": "string",
                "format": "uuid",
                "description": "The event's id: the same when a dead letter is replayed",
            },
            "source": {
                "type": "string",
                "examples": ["referral_intake", "router", "provider_adapter.IDVA"],
            },
            "type": {"const": type_},
            "time": {"type": "string", "format": "date-time"},
            "subject": {
                "type": "string",
                "format": "uuid",
                "description": "The referral id; never anything personal",
            },
            "datacontenttype": {"const": "application/json"},
            "data": {"$ref": data_ref},
        },
        "additionalProperties": True,
    }


def _messages(refs: dict[str, str]) -> dict[str, Any]:
    found = {}
    for type_, (name, model, summary) in MESSAGES.items():
        found[name] = {
            "name": type_,
            "title": name,
            "summary": summary,
            "contentType": "application/cloudevents+json",
            "headers": {"type": "object", "properties": TRACE_HEADERS},
            "payload": _envelope(type_, refs[model.__name__]),
            "correlationId": {
                "description": "The referral id",
                "location": "$message.payload#/subject",
            },
            "bindings": {"kafka": {"key": KEY, "bindingVersion": KAFKA_BINDING}},
        }
    return found


def _channel_id(topic: str) -> str:
    return topic.replace(".", "_")


def _binding(topic: str) -> dict[str, Any]:
    config = topics.topic_config(topic, replication_factor=3)
    return {
        "kafka": {
            "topic": topic,
            "partitions": topics.PARTITIONS,
            "topicConfiguration": {
                "cleanup.policy": [config["cleanup.policy"]],
                "retention.ms": int(config["retention.ms"]),
            },
            "bindingVersion": KAFKA_BINDING,
        }
    }


def _channels() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for topic in topics.main_topics():
        messages = {
            MESSAGES[t][0]: {"$ref": f"#/components/messages/{MESSAGES[t][0]}"}
            for t in TOPIC_TYPES[topic]
        }
        channels[_channel_id(topic)] = {
            "address": topic,
            "title": topic,
            "description": f"Events of type {', '.join(TOPIC_TYPES[topic])}, keyed by referral id.",
            "messages": messages,
            "bindings": _binding(topic),
        }
        for tier, retry in enumerate(topics.retry_topics_for(topic), start=1):
            channels[_channel_id(retry)] = {
                "address": retry,
                "title": retry,
                "description": f"Retry tier {tier} of {topic}: a record whose handler failed, "
                "the original bytes and key, with retry.* headers; its consumer waits until "
                "retry.not_before_ms, then handles it again.",
                "messages": messages,
                "bindings": _binding(retry),
            }
        channels[_channel_id(topics.dead_letter_for(topic))] = {
            "address": topics.dead_letter_for(topic),
            "title": topics.dead_letter_for(topic),
            "description": f"Dead letters of {topic}: a record that could not be decoded or "
            f"failed {topics.RETRY_TIERS} retries, the original bytes and key, with error.* "
            "headers. Kept four weeks for someone's decision (make dead-letters).",
            "messages": messages,
            "bindings": _binding(topics.dead_letter_for(topic)),
        }
    return channels


def _operation(
    principal: Principal, action: str, topic: str, group: str | None = None
) -> tuple[str, dict[str, Any]]:
    verb = "sends" if action == "send" else "receives"
    channel = _channel_id(topic)
    operation: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "title": f"{principal.name} {verb} {topic}",
        "summary": f"{principal.name} (Kafka principal {principal.username}) {verb} {topic}"
        + (f" in consumer group {group}" if group else ""),
        "messages": [
            {"$ref": f"#/channels/{channel}/messages/{MESSAGES[t][0]}"}
            for t in TOPIC_TYPES[_main_of(topic)]
        ],
    }
    if group:
        operation["bindings"] = {
            "kafka": {
                "groupId": {"type": "string", "enum": [group]},
                "bindingVersion": KAFKA_BINDING,
            }
        }
    return f"{principal.username}.{action}.{topic}", operation


def _main_of(topic: str) -> str:
    for main in topics.main_topics():
        if topic == main or topic.startswith(main + "."):
            return main
    raise KeyError(topic)


def _operations() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for principal in PRINCIPALS:
        if not principal.service_process:
            continue
        for topic in principal.produces:
            key, operation = _operation(principal, "send", topic)
            found[key] = operation
        for consumed in principal.consumes:
            key, operation = _operation(principal, "receive", consumed.topic, consumed.group)
            found[key] = operation
            for retry in topics.retry_topics_for(consumed.topic):
                key, operation = _operation(principal, "send", retry)
                found[key] = operation
                key, operation = _operation(principal, "receive", retry, f"{consumed.group}.retry")
                found[key] = operation
            key, operation = _operation(principal, "send", topics.dead_letter_for(consumed.topic))
            found[key] = operation
    return found


def document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document, as a JSON-compatible dict (deterministic: the same code
    gives the same bytes)."""
    schemas, refs = _schemas()
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Referral hub event bus",
            "version": DOCUMENT_VERSION,
            "description": "Every topic of the referral hub's Apache Kafka bus. Each record "
            "is a CloudEvents 1.0 event in structured mode (JSON), keyed by the referral id; "
            "no personal data travels on the bus. Consumers ignore fields they do not know, "
            "so producers may add fields within a version; a change that breaks a consumer "
            "is a new topic (.v2). Generated from schemas/ by `make asyncapi`.",
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "cluster": {
                "host": "kafka:9093",
                "protocol": "kafka-secure",
                "description": "The cluster's SASL_SSL listener (docker-compose.yml, "
                "deploy/k8s). Each process authenticates as its own principal; ACLs from "
                "schemas/bus_access.py allow only the operations below.",
                "security": [{"$ref": "#/components/securitySchemes/scram"}],
            }
        },
        "channels": _channels(),
        "operations": _operations(),
        "components": {
            "schemas": schemas,
            "messages": _messages(refs),
            "securitySchemes": {
                "scram": {
                    "type": "scramSha512",
                    "description": "SASL/SCRAM-SHA-512, one principal per process",
                }
            },
        },
    }


def render() -> str:
    """The document as committed: sorted keys, two-space indents, a final newline."""
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
