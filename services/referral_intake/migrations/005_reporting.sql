-- The commissioner's report (GET /v1/reports/performance) reads a projection: one row per
-- referral per service, holding the coded facts of the referral's latest route to that
-- service. A referral rejected by a service and re-routed counts once for that service and
-- once for the service it went on to; a service that had the same referral twice (consent
-- given again, a re-referral, an override) counts it once, as its latest route stands.
--
-- Coded facts only: no names, no dates of birth, no free text. Erasure wipes the vault and
-- leaves this table as it is, so reports never change when personal data goes.
--
-- The handlers that change a route or its timeline call report_refresh() for the referral
-- in the same transaction; the function derives every row from routes, timeline and
-- referrals, so it is idempotent and does not care in which order events arrived. Changing
-- a definition is a new migration that replaces the function and refreshes every row.

CREATE FUNCTION report_age_band(age integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN age IS NULL THEN 'unknown'
        WHEN age < 10 THEN '0-9'
        WHEN age < 18 THEN '10-17'
        WHEN age < 25 THEN '18-24'
        WHEN age < 35 THEN '25-34'
        WHEN age < 45 THEN '35-44'
        WHEN age < 55 THEN '45-54'
        WHEN age < 65 THEN '55-64'
        ELSE '65+'
    END
$$;

-- Outcome measures (schemas/outcome_measures.json), one bit each, so that the report counts
-- every measure in the same pass as everything else. A new measure needs a row here.
CREATE TABLE report_measures (
    bit  smallint PRIMARY KEY CHECK (bit BETWEEN 0 AND 30),
    name text NOT NULL UNIQUE
);
INSERT INTO report_measures (bit, name) VALUES
    (0, 'needs_met'),
    (1, 'cope_and_recover'),
    (2, 'better_informed'),
    (3, 'empowered_to_act'),
    (4, 'cjs_experience_improved'),
    (5, 'cjs_confidence_increased'),
    (6, 'risk_reduced'),
    (7, 'abuse_ceased_or_reduced'),
    (8, 'safety_plan_in_place'),
    (9, 'education_placement_sustained'),
    (10, 'diverted_to_activity'),
    (11, 'group_attended'),
    (12, 'programme_completed');

CREATE TABLE report_facts (
    referral_id       uuid NOT NULL,
    service           text NOT NULL,
    route_id          uuid NOT NULL,          -- the latest route to this service
    routes            integer NOT NULL,       -- how many routes the referral had to it
    received_at       timestamptz NOT NULL,   -- when the hub received the referral
    sub_service       text NOT NULL,
    priority          text NOT NULL,
    local_authority   text NOT NULL,
    source            text NOT NULL,
    age_band          text NOT NULL,
    high_risk_da      boolean NOT NULL,       -- the policy's DA risk was high
    requested_at      timestamptz NOT NULL,   -- referred to the service
    reached_at        timestamptz,            -- the provider first acted on it
    acknowledged_at   timestamptz,            -- accepted or rejected
    accepted          boolean NOT NULL,
    rejected          boolean NOT NULL,
    rejection_reason  text,
    first_contact_at  timestamptz,            -- first contact attempt that reached the person
    contact_due_by    timestamptz NOT NULL,
    code_deadline     timestamptz NOT NULL,   -- the Victims' Code referral clock
    ended_at          timestamptz,            -- completed, closed, rejected, cancelled or failed
    outcome_status    text,
    engaged           boolean NOT NULL,
    positive_outcome  boolean,                -- at least one positive measure; null: none recorded
    measures_reported integer NOT NULL,       -- outcome measures given a value, as bits
    measures_positive integer NOT NULL,       -- those true or "improved", as bits
    PRIMARY KEY (referral_id, service)
);
-- Counts are by the date the referral was received.
CREATE INDEX report_facts_received ON report_facts (received_at, service);
-- Open caseload and waiting list at a point in time: what had not ended by then.
CREATE INDEX report_facts_open ON report_facts (requested_at) WHERE ended_at IS NULL;
CREATE INDEX report_facts_ended ON report_facts (ended_at);
-- Referrals received in a period by status, read from the index alone.
CREATE INDEX referrals_received_status ON referrals (received_at, status, local_authority);

CREATE FUNCTION report_refresh(referral_ids uuid[]) RETURNS void
LANGUAGE sql SET search_path FROM CURRENT AS $$
    INSERT INTO report_facts AS f (
        referral_id, service, route_id, routes, received_at, sub_service, priority,
        local_authority, source, age_band, high_risk_da, requested_at, reached_at,
        acknowledged_at, accepted, rejected, rejection_reason, first_contact_at,
        contact_due_by, code_deadline, ended_at, outcome_status, engaged, positive_outcome,
        measures_reported, measures_positive)
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
           m.reported, m.positive
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
            ))[1] AS outcome
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
        measures_positive = EXCLUDED.measures_positive
$$;

-- Back-fill: every referral that already has routes.
SELECT report_refresh(array_agg(DISTINCT referral_id)) FROM routes;
