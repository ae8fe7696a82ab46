-- Outbox rows the broker can never take (over its message.max.bytes): the relay moves them
-- here, with the error's name, instead of retrying them in front of every later event.
-- Operations decide what becomes of each (docs/runbook.md, HubOutboxSetAside); the event
-- carries no personal data, as every outbox row.
CREATE TABLE outbox_set_aside (
    id         bigint PRIMARY KEY,
    event_id   uuid NOT NULL UNIQUE,
    topic      text NOT NULL,
    key        text NOT NULL,
    payload    jsonb NOT NULL,
    headers    jsonb NOT NULL,
    caused_by  uuid,
    created_at timestamptz NOT NULL,
    error      text NOT NULL,
    set_aside_at timestamptz NOT NULL DEFAULT now()
);
