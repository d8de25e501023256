-- The release draw: when a date opens, requests during its window are entries, and at the
-- close a seeded, verifiable order admits them (see docs/fair-access.md).
CREATE TABLE draws (
    office_code        text NOT NULL,
    date               date NOT NULL,
    opens_at           timestamptz NOT NULL,
    closes_at          timestamptz NOT NULL,
    -- The seed, encrypted until it is published after the draw; its SHA-256 is public.
    seed_enc           bytea NOT NULL,
    seed_sha256        text NOT NULL,
    beacon_round       bigint NOT NULL,
    beacon_randomness  text,
    -- Fixed when the window closes (no entry is added after).
    entries_sha256     text,
    entry_count        integer,
    -- OPEN (entries), DRAWING (frozen; admitting), DONE.
    state              text NOT NULL DEFAULT 'OPEN' CHECK (state IN ('OPEN', 'DRAWING', 'DONE')),
    -- One replica runs a draw at a time; a lease that lapses (a crash) lets another resume.
    lease_until        timestamptz,
    drawn_at           timestamptz,
    created_at         timestamptz NOT NULL,
    PRIMARY KEY (office_code, date)
);

CREATE INDEX draws_unfinished ON draws (closes_at) WHERE state <> 'DONE';

CREATE TABLE draw_entries (
    id           uuid PRIMARY KEY,
    office_code  text NOT NULL,
    date         date NOT NULL,
    session      text NOT NULL,
    seats        integer NOT NULL CHECK (seats BETWEEN 1 AND 5),
    channel      text NOT NULL,
    -- Keyed hash of the contact phone, as the waitlist keys it: one entry per contact.
    contact_key  text NOT NULL,
    -- The booking request (with the proven phone, never a token), encrypted.
    request_enc  bytea NOT NULL,
    position     integer,
    outcome      text CHECK (outcome IN ('WON', 'WAITLISTED', 'REFUSED')),
    booking_id   uuid,
    note         text NOT NULL DEFAULT '',
    -- The outcome message was handed to the notification outbox.
    notified     boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL,
    FOREIGN KEY (office_code, date) REFERENCES draws
);

CREATE UNIQUE INDEX draw_one_entry_per_contact ON draw_entries (office_code, date, contact_key);
CREATE INDEX draw_entries_of ON draw_entries (office_code, date, position);

-- One entry per person and date.
CREATE TABLE draw_entry_people (
    office_code  text NOT NULL,
    date         date NOT NULL,
    person_key   text NOT NULL,
    entry_id     uuid NOT NULL REFERENCES draw_entries (id),
    PRIMARY KEY (office_code, date, person_key)
);
