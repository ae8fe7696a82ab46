-- Keep the coded facts each decision was made on (never personal data), so that a decision
-- can be reproduced and the commissioning team can simulate policy changes on real
-- referral patterns.
ALTER TABLE decisions ADD COLUMN received_at timestamptz;
ALTER TABLE decisions ADD COLUMN facts jsonb;
ALTER TABLE decisions ADD COLUMN routes text[];
CREATE INDEX decisions_received_at ON decisions (received_at);
