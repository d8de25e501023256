-- Applicants and contacts. NIK, phone and e-mail are stored encrypted (XChaCha20-Poly1305)
-- and looked up by a keyed hash (HMAC-SHA256 blind index); they never appear in clear here.

CREATE TABLE contacts (
    id                uuid PRIMARY KEY,
    phone_hash        bytea NOT NULL UNIQUE,
    phone_enc         bytea NOT NULL,
    -- e.g. +62812****7890, for display and logs.
    phone_masked      text NOT NULL,
    email_enc         bytea,
    whatsapp_user_id  text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE applicants (
    id             uuid PRIMARY KEY,
    -- Who this record is: hash of the NIK, or (without NIK, classic WhatsApp format) of
    -- name + birth date + phone.
    identity_hash  bytea NOT NULL UNIQUE,
    -- The person for "one active booking": hash of the NIK, or of name + birth date.
    person_key     text NOT NULL,
    nik_enc        bytea,
    nik_masked     text,
    name           text NOT NULL,
    birth_date     date NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX applicants_person ON applicants (person_key);

-- One row per missed appointment, per person and booking.
CREATE TABLE no_shows (
    person_key   text NOT NULL,
    booking_id   text NOT NULL,
    date         date NOT NULL,
    recorded_at  timestamptz NOT NULL,
    PRIMARY KEY (person_key, booking_id)
);

CREATE TABLE blocks (
    person_key     text PRIMARY KEY,
    blocked_until  timestamptz NOT NULL,
    reason         text NOT NULL,
    updated_at     timestamptz NOT NULL
);
