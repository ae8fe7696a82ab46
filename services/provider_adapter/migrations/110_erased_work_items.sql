-- Erasure (issue 15): when intake erases a referral's personal data, this provider's work
-- items for it leave the queue for good and every later step on them answers 410. The row
-- stays (its coded facts and steps are the provider's record of what it did), marked here.
ALTER TABLE work_items ADD COLUMN erased_at timestamptz;

-- The referrals erased, as intake announced them: a work item for one of them that arrives
-- after the erasure (its own topic may lag the announcement's) never enters the queue.
CREATE TABLE erased_referrals (
    referral_id uuid PRIMARY KEY,
    erased_at   timestamptz NOT NULL
);
