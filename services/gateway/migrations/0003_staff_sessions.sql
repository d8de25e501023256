-- Staff sessions of the console. The cookie holds a random secret; only its SHA-256 is
-- stored. The actor token (a bearer credential for staff RPCs) is encrypted.
CREATE TABLE staff_sessions (
    id             text PRIMARY KEY,
    token_enc      bytea NOT NULL,
    csrf           text NOT NULL,
    username       text NOT NULL,
    display_name   text NOT NULL,
    role           text NOT NULL,
    office_code    text NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL
);

CREATE INDEX staff_sessions_expiry ON staff_sessions (expires_at);
