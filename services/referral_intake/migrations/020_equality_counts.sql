-- Equality monitoring, counted without reading identities (issue 22). The answers themselves
-- are special category data and live only in the vault, sealed with the rest of the
-- referral's personal data. The report needs counts, so submission adds each new referral's
-- answers to these counters in the same statement that stores it, and the report reads the
-- counters: it never opens the vault.
--
-- What the table cannot tell anyone:
-- * No referral id, no time finer than the London month the referral was received in: a row
--   is "so many referrals received in October from police officers in Worcestershire
--   recorded ethnicity X", never "this referral".
-- * Each characteristic is counted on its own: the table does not hold combinations of
--   answers (ethnicity with religion with sexual orientation), which would single people out.
-- * Erasing a referral's personal data (on request or after retention) does not touch it and
--   need not: nothing in it belongs to one person.
-- A referral alone in its month, source and local authority is still one person in its row
-- (and the coded facts in `referrals` are pseudonymous, not anonymous): the published
-- edition of the report suppresses such counts, and only the database's owner can read this
-- table at all.
CREATE TABLE equality_counts (
    month           date NOT NULL CHECK (extract(day FROM month) = 1),  -- London month received
    local_authority text NOT NULL,
    source          text NOT NULL,
    characteristic  text NOT NULL,
    category        text NOT NULL,    -- a 2021 Census code, not_asked or prefer_not_to_say
    referrals       integer NOT NULL CHECK (referrals >= 0),
    PRIMARY KEY (month, local_authority, source, characteristic, category)
);
