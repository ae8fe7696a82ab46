-- Webhooks by the Standard Webhooks specification's sender guidance (issue 19):
-- * secret rotation without downtime: registering the same URL again makes a new secret and
--   keeps signing with the previous one too until previous_secret_until;
-- * 410 Gone disables the endpoint (disabled_at, disabled_reason) until it is registered again;
-- * 429/502/503/504 pause every delivery to it until paused_until (its Retry-After, or the
--   backoff).
ALTER TABLE webhook
    ADD COLUMN previous_secret       text,
    ADD COLUMN previous_secret_until timestamptz,
    ADD COLUMN disabled_at           timestamptz,
    ADD COLUMN disabled_reason       text,
    ADD COLUMN paused_until          timestamptz;
