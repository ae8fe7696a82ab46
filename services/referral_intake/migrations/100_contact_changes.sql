-- Changes of contact details (PATCH /v1/referrals/{id}/contact, issue 26). The details and
-- every earlier version of them stay in the vault (sealed, erased with the rest); the
-- referral only counts the versions, so that a provider's read of the details can say which
-- version it saw (version 1 is the submission's).
ALTER TABLE referrals ADD COLUMN contact_version integer NOT NULL DEFAULT 1;
