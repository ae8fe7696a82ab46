"""Prometheus metrics every service exposes on ``/metrics``. Labels never carry personal data
or referral ids: only service names, topics, statuses and rule ids."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_BACKLOG = Gauge("hub_outbox_backlog", "Outbox rows not yet published", ["schema"])
OUTBOX_OLDEST_SECONDS = Gauge(
    "hub_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row", ["schema"]
)
OUTBOX_PUBLISHED = Counter("hub_outbox_published_total", "Outbox rows published", ["schema"])
OUTBOX_SET_ASIDE = Counter(
    "hub_outbox_set_aside_total",
    "Outbox rows the broker can never take (over its message.max.bytes), moved to "
    "outbox_set_aside instead of being retried in front of later events",
    ["schema"],
)
RELAY_PRODUCER_RENEWALS = Counter(
    "hub_relay_producer_renewals_total",
    "Times an outbox relay gave up its Kafka producer, which could no longer publish (out of "
    "step with the broker after a restart, or its sender ended), and started a new one",
    ["relay", "error"],
)
EVENTS_CONSUMED = Counter(
    "hub_events_consumed_total", "Events consumed, by outcome", ["topic", "consumer", "outcome"]
)
DEAD_LETTERS = Counter("hub_dead_letters_total", "Messages sent to a dead-letter topic", ["topic"])
HTTP_LATENCY = Histogram(
    "hub_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
)
SLA_BREACHES = Counter(
    "hub_sla_breaches_total", "Route clocks that passed unmet", ["service", "clock"]
)
WEBHOOK_ATTEMPTS = Counter(
    "hub_webhook_attempts_total",
    "Webhook delivery attempts by provider and result",
    ["service", "result"],
)
OUTBOUND_REFUSALS = Counter(
    "hub_outbound_refusals_total",
    "Client-supplied URLs the hub refused to call (services/plumbing/outbound.py), by whose "
    "URL it was (a provider service), what for, when (registration or delivery) and the rule",
    ["service", "purpose", "stage", "rule"],
)
BACKGROUND_FAILURES = Counter(
    "hub_background_failures_total",
    "Failed passes of a background loop (services/plumbing/loops.py: the SLA watchdog, "
    "reconciliation, retention, webhook delivery, ...), each tried again after its pause",
    ["loop"],
)
REDRIVES = Counter(
    "hub_redrives_total", "Events published again because the next step was overdue", ["stage"]
)
REFERRALS_RECEIVED = Counter(
    "hub_referrals_received_total",
    "Referrals submitted at intake, by referral source and what became of the request",
    ["source", "result"],
)
DECISIONS = Counter(
    "hub_decisions_total",
    "Routing decisions, by what caused them and the referral status they led to",
    ["trigger", "status", "policy_version"],
)
ROUTES_DISPATCHED = Counter(
    "hub_routes_dispatched_total", "Routes sent to a provider", ["service", "priority"]
)
RULES_FIRED = Counter("hub_rules_fired_total", "Policy rules that fired in a decision", ["rule_id"])
CONSUMER_LAG = Gauge(
    "hub_consumer_lag",
    "Messages not yet consumed (end offset less committed offset)",
    ["consumer", "topic", "partition"],
)
AUTHENTICATION_FAILURES = Counter(
    "hub_authentication_failures_total",
    "Requests refused 401 by the request guard, by why (missing, malformed, too_long, invalid)",
    ["reason"],
)
HTTP_REFUSALS = Counter(
    "hub_http_refusals_total",
    "Requests the request guard answered itself: at_capacity (503), throttled (429), "
    "body_timeout and header_timeout (408), body_too_large (413), head_414, head_431",
    ["reason"],
)
