-- The outbox: every message antrean sends, from the request to its final delivery state.
--   QUEUED -> SENT (the provider accepted it) -> DELIVERED -> READ;  QUEUED | SENT -> FAILED
CREATE TABLE outbox (
    id                   uuid PRIMARY KEY,
    idempotency_key      text NOT NULL UNIQUE,
    channel              text NOT NULL,
    -- Recipient phone (or WhatsApp user id), encrypted; recipient_key orders one person's
    -- messages without decrypting.
    recipient_enc        bytea NOT NULL,
    recipient_key        text NOT NULL,
    sender               text NOT NULL,
    template             text NOT NULL,
    params               jsonb NOT NULL,
    payload              jsonb NOT NULL,
    state                text NOT NULL CHECK (state IN ('QUEUED', 'SENT', 'DELIVERED', 'READ', 'FAILED')),
    attempts             integer NOT NULL DEFAULT 0,
    next_attempt_at      timestamptz NOT NULL,
    -- A worker owns the row until then; after a crash the row is due again.
    lease_until          timestamptz,
    provider_message_id  text UNIQUE,
    last_error           text NOT NULL DEFAULT '',
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);

CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'QUEUED';
CREATE INDEX outbox_recipient ON outbox (recipient_key, id) WHERE state = 'QUEUED';

CREATE TABLE delivery_events (
    id          bigserial PRIMARY KEY,
    message_id  uuid NOT NULL REFERENCES outbox (id),
    state       text NOT NULL,
    detail      text NOT NULL DEFAULT '',
    at          timestamptz NOT NULL
);
