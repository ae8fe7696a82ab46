"""Shared plumbing for every service: settings base, database pool and migrations, outbox
and inbox, Kafka broker and consumer wrapper, HTTP conveniences, auth, logging, metrics.
No domain logic lives here."""
