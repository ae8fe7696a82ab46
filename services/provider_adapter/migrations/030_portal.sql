-- The provider portal: one account per person, their sign-in sessions, the invitations an
-- administrator hands out, and a history of every step on a work item naming who took it.

-- A person at this provider. The account id is their identity everywhere else (the coded
-- actor "<SERVICE>:caseworker:<account_id>" on the bus and in intake's logs); accounts are
-- removed, never deleted, so that the logs keep naming whoever acted.
CREATE TABLE portal_accounts (
    account_id       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username         text NOT NULL UNIQUE CHECK (username = lower(username)),
    display_name     text NOT NULL,
    role             text NOT NULL CHECK (role IN ('caseworker', 'administrator')),
    state            text NOT NULL CHECK (state IN ('invited', 'active', 'removed')),
    password_hash    text,
    -- The TOTP secret, sealed with AES-256-GCM under PORTAL_SECRET_KEY (account id bound in).
    totp_nonce       bytea,
    totp_sealed      bytea,
    -- The last TOTP time step accepted: a code works once.
    totp_last_step   bigint,
    failed_attempts  integer NOT NULL DEFAULT 0,
    locked_until     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by       uuid REFERENCES portal_accounts (account_id),
    activated_at     timestamptz,
    last_sign_in_at  timestamptz,
    removed_at       timestamptz,
    removed_by       uuid REFERENCES portal_accounts (account_id)
);

-- An invitation is a one-time link: only its SHA-256 is kept.
CREATE TABLE portal_invitations (
    token_hash  text PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES portal_accounts (account_id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  uuid REFERENCES portal_accounts (account_id),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX portal_invitations_account ON portal_invitations (account_id);

-- Server-side sessions; the cookie holds a random token, the table its SHA-256. A session
-- is 'second_factor' between the password and the code, then a new one is made (the id
-- rotates at sign-in) as 'signed_in'.
CREATE TABLE portal_sessions (
    session_hash  text PRIMARY KEY,
    account_id    uuid NOT NULL REFERENCES portal_accounts (account_id),
    stage         text NOT NULL CHECK (stage IN ('second_factor', 'signed_in')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX portal_sessions_account ON portal_sessions (account_id);

-- What happened to accounts, and who did it (invited, activated, signed in, locked, removed).
CREATE TABLE portal_account_events (
    id          bigserial PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES portal_accounts (account_id),
    event       text NOT NULL,
    by_account  uuid REFERENCES portal_accounts (account_id),
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX portal_account_events_account ON portal_account_events (account_id, at);

-- Every step on a work item, with the coded actor who took it (NULL: the provider's own
-- system through the API, or the hub). The portal shows it as the work item's timeline.
CREATE TABLE work_item_steps (
    id        bigserial PRIMARY KEY,
    route_id  uuid NOT NULL REFERENCES work_items (route_id),
    step      text NOT NULL,
    status    text NOT NULL,
    at        timestamptz NOT NULL,
    actor     text,
    detail    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX work_item_steps_route ON work_item_steps (route_id, at, id);

-- What is known of the work items already here: when each arrived, its contact attempts and
-- its outcome.
INSERT INTO work_item_steps (route_id, step, status, at, detail)
SELECT route_id, 'queued', 'requested', queued_at, '{}'::jsonb FROM work_items;
INSERT INTO work_item_steps (route_id, step, status, at, detail)
SELECT a.route_id, 'contact_attempt', w.status, a.recorded_at,
       jsonb_build_object('contact_attempt',
                          jsonb_build_object('at', a.at, 'channel', a.channel, 'result', a.result))
FROM contact_attempts a JOIN work_items w USING (route_id);
INSERT INTO work_item_steps (route_id, step, status, at, detail)
SELECT o.route_id, 'outcome', w.status, o.recorded_at,
       jsonb_build_object('outcome', jsonb_build_object('status', o.status, 'reason', o.reason,
                                                        'measures', o.measures))
FROM outcomes o JOIN work_items w USING (route_id);
