-- People at providers who act through their provider portal, by coded actor
-- ("IDVA:caseworker:<account id>"). The bus carries only the coded actor, never a name; the
-- adapter tells intake the person's name over its authenticated internal API, so that the
-- timeline and the disclosure log name the person.
CREATE TABLE provider_people (
    actor         text PRIMARY KEY,
    service       text NOT NULL,
    display_name  text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Each disclosure to a person also keeps their name as it was at the time, so that the log
-- identifies them (DPA 2018 s.62) without relying on another table or service later.
ALTER TABLE disclosure_log ADD COLUMN accessor_name text;
