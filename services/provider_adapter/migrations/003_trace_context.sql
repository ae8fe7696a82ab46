-- The trace a work item arrived in (W3C traceparent), so that the provider's acknowledgement,
-- contact attempts and outcome, made later over HTTP, join the referral's one trace.
ALTER TABLE work_items ADD COLUMN trace_context jsonb NOT NULL DEFAULT '{}'::jsonb;
