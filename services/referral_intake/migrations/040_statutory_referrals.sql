-- Statutory referrals (routing-policy.md, version 2): each flag that asks staff to refer to a
-- statutory body (children's social care, the Home Office's duty to notify, adult
-- safeguarding, the NRM, the MARAC) or to obtain a missing risk assessment, from the decision
-- that first raised it until a supervisor records that it was done. It is the supervisor's
-- worklist (GET /v1/referrals?action_required=true) and what the commissioner's report counts.
--
-- Coded facts only: the other agency's reference is held to a case-reference format
-- (letters, digits and / . - _, with a digit), never free text, and never leaves intake.
-- Erasure leaves these rows as they are, like report_facts.
CREATE TABLE statutory_referrals (
    referral_id    uuid NOT NULL REFERENCES referrals (referral_id),
    flag           text NOT NULL,
    raised_at      timestamptz NOT NULL,   -- when a decision first raised it
    policy_version text NOT NULL,          -- the version of that decision
    withdrawn_at   timestamptz,            -- a later full assessment no longer raised it
    made_at        timestamptz,            -- when the referral was made, as the supervisor says
    reference      text,                   -- the other agency's case reference
    recorded_by    text,                   -- the supervisor who recorded it
    recorded_at    timestamptz,            -- when they did
    PRIMARY KEY (referral_id, flag),
    CHECK ((made_at IS NULL) = (recorded_at IS NULL))
);
-- The worklist looks up the outstanding ones of each referral.
CREATE INDEX statutory_referrals_outstanding ON statutory_referrals (referral_id, flag)
    WHERE made_at IS NULL AND withdrawn_at IS NULL;

-- Back-fill: the flags of decisions recorded before this table existed are outstanding,
-- since nothing recorded that the referral was made.
INSERT INTO statutory_referrals (referral_id, flag, raised_at, policy_version)
SELECT r.referral_id, f.flag,
       coalesce((r.decision->>'decided_at')::timestamptz, r.updated_at),
       coalesce(r.decision->>'policy_version', 'unknown')
FROM referrals r
CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(r.decision->'flags', '[]'::jsonb)) AS f(flag)
WHERE f.flag IN ('children_services_referral', 'duty_to_notify', 'adult_safeguarding_referral',
                 'nrm_referral_required', 'marac_referral_required', 'risk_assessment_missing')
ON CONFLICT DO NOTHING;
