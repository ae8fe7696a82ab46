"""Router: applies the needs-assessment policy to a referral's coded facts and directs it
to the provider queues. Never sees personal data."""
