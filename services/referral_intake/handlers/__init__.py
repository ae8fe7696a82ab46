"""Intake's use cases, one module per area: submitting referrals, recording decisions and
route status, consent, supervisor overrides, the SLA watchdog, disclosure of contact
details, and the views staff read. Each loads what it needs, asks the domain, and saves
the result with its outbox events in one transaction."""
