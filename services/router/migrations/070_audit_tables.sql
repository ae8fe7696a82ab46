-- The decision log is the record of why each referral went where it did: the router's own
-- role may read it and add to it, never rewrite it.
INSERT INTO append_only_tables (name) VALUES ('decisions');
