-- The contact standard in the report (issue 22): how many contact attempts each route had,
-- and whether it was closed as failed because the person could not be contacted (the
-- provider may do so only once its service's contact standard is met,
-- schemas/contact_standards.json). report_refresh() is replaced with the same derivation
-- plus the two new columns, and every row is refreshed.

ALTER TABLE report_facts
    ADD COLUMN contact_attempts integer NOT NULL DEFAULT 0,   -- attempts on the latest route
    ADD COLUMN not_contactable  boolean NOT NULL DEFAULT false; -- failed: not_contactable

CREATE OR REPLACE FUNCTION report_refresh(referral_ids uuid[]) RETURNS void
LANGUAGE sql SET search_path FROM CURRENT AS $$
    INSERT INTO report_facts AS f (
        referral_id, service, route_id, routes, received_at, sub_service, priority,
        local_authority, source, age_band, high_risk_da, requested_at, reached_at,
        acknowledged_at, accepted, rejected, rejection_reason, first_contact_at,
        contact_due_by, code_deadline, ended_at, outcome_status, engaged, positive_outcome,
        measures_reported, measures_positive, contact_attempts, not_contactable)
    SELECT l.referral_id, l.service, l.route_id, l.routes, r.received_at, l.sub_service,
           l.priority, r.local_authority, r.source,
           report_age_band((r.facts->'subject'->>'age')::integer),
           coalesce(r.decision->>'da_risk' = 'high', false),
           l.requested_at, s.reached_at, s.acknowledged_at,
           coalesce(s.accepted, false), coalesce(s.rejected, false), s.rejection_reason,
           s.first_contact_at, l.contact_due_by, l.code_deadline,
           CASE WHEN l.status IN ('completed', 'closed', 'rejected', 'cancelled', 'failed')
                THEN coalesce(s.ended_at, l.updated_at) END,
           s.outcome->>'status',
           coalesce((s.outcome->'measures'->>'engaged')::boolean, s.first_contact_at IS NOT NULL),
           CASE WHEN m.reported <> 0 THEN m.positive <> 0 END,
           m.reported, m.positive, s.contact_attempts,
           coalesce(s.outcome->>'status' = 'failed'
                    AND s.outcome->>'reason' = 'not_contactable', false)
    FROM (
        SELECT DISTINCT ON (referral_id, service) *,
               count(*) OVER (PARTITION BY referral_id, service) AS routes
        FROM routes
        WHERE referral_id = ANY (referral_ids)
        ORDER BY referral_id, service, requested_at DESC, route_id DESC
    ) l
    JOIN referrals r ON r.referral_id = l.referral_id
    CROSS JOIN LATERAL (
        SELECT
            min(t.at) FILTER (
                WHERE t.event IN ('viewed', 'acknowledged', 'contact_attempt', 'outcome')
            ) AS reached_at,
            min(t.at) FILTER (
                WHERE t.event = 'acknowledged' AND t.status IN ('accepted', 'rejected')
            ) AS acknowledged_at,
            bool_or(t.event = 'acknowledged' AND t.status = 'accepted') AS accepted,
            bool_or(t.event = 'acknowledged' AND t.status = 'rejected') AS rejected,
            (array_agg(t.detail->>'rejection_reason' ORDER BY t.id DESC) FILTER (
                WHERE t.event = 'acknowledged' AND t.status = 'rejected'
            ))[1] AS rejection_reason,
            min((t.detail->'contact_attempt'->>'at')::timestamptz) FILTER (
                WHERE t.event = 'contact_attempt'
                  AND t.detail->'contact_attempt'->>'result' = 'contacted'
            ) AS first_contact_at,
            min(t.at) FILTER (
                WHERE t.status IN ('completed', 'closed', 'rejected', 'cancelled', 'failed')
            ) AS ended_at,
            (array_agg(t.detail->'outcome' ORDER BY t.id DESC) FILTER (
                WHERE t.event = 'outcome'
            ))[1] AS outcome,
            count(*) FILTER (WHERE t.event = 'contact_attempt') AS contact_attempts
        FROM timeline t
        WHERE t.route_id = l.route_id
    ) s
    CROSS JOIN LATERAL (
        -- Outcome measures: reported when given a value, positive when true or "improved".
        -- "engaged" is engagement, not an outcome: it feeds the engaged count instead.
        SELECT coalesce(bit_or(1 << b.bit) FILTER (WHERE e.value <> 'null'::jsonb), 0)
                   AS reported,
               coalesce(bit_or(1 << b.bit)
                        FILTER (WHERE e.value IN ('true'::jsonb, '"improved"'::jsonb)), 0)
                   AS positive
        FROM jsonb_each(coalesce(s.outcome->'measures', '{}'::jsonb)) e
        JOIN report_measures b ON b.name = e.key
    ) m
    ON CONFLICT (referral_id, service) DO UPDATE SET
        route_id = EXCLUDED.route_id,
        routes = EXCLUDED.routes,
        received_at = EXCLUDED.received_at,
        sub_service = EXCLUDED.sub_service,
        priority = EXCLUDED.priority,
        local_authority = EXCLUDED.local_authority,
        source = EXCLUDED.source,
        age_band = EXCLUDED.age_band,
        high_risk_da = EXCLUDED.high_risk_da,
        requested_at = EXCLUDED.requested_at,
        reached_at = EXCLUDED.reached_at,
        acknowledged_at = EXCLUDED.acknowledged_at,
        accepted = EXCLUDED.accepted,
        rejected = EXCLUDED.rejected,
        rejection_reason = EXCLUDED.rejection_reason,
        first_contact_at = EXCLUDED.first_contact_at,
        contact_due_by = EXCLUDED.contact_due_by,
        code_deadline = EXCLUDED.code_deadline,
        ended_at = EXCLUDED.ended_at,
        outcome_status = EXCLUDED.outcome_status,
        engaged = EXCLUDED.engaged,
        positive_outcome = EXCLUDED.positive_outcome,
        measures_reported = EXCLUDED.measures_reported,
        measures_positive = EXCLUDED.measures_positive,
        contact_attempts = EXCLUDED.contact_attempts,
        not_contactable = EXCLUDED.not_contactable
$$;


SELECT report_refresh(array_agg(DISTINCT referral_id)) FROM routes;
