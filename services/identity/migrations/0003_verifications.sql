-- Proof of a web/app contact: a 6-digit code sent to the phone (and e-mail), then a contact
-- token. Only keyed hashes of the code and of the token are stored; the e-mail waits here,
-- encrypted, until the code proves it.
CREATE TABLE verifications (
    id                uuid PRIMARY KEY,
    contact_id        uuid NOT NULL REFERENCES contacts (id),
    email_enc         bytea,
    -- HMAC of "id|code" under the index key.
    code_hash         bytea NOT NULL,
    wrong_attempts    integer NOT NULL DEFAULT 0,
    -- PENDING (code sent), CONFIRMED (token issued), ENDED (too many wrong codes).
    state             text NOT NULL DEFAULT 'PENDING'
                      CHECK (state IN ('PENDING', 'CONFIRMED', 'ENDED')),
    code_expires_at   timestamptz NOT NULL,
    -- SHA-256 of the contact token once confirmed.
    token_hash        bytea UNIQUE,
    token_expires_at  timestamptz,
    created_at        timestamptz NOT NULL
);

CREATE INDEX verifications_created ON verifications (created_at);
