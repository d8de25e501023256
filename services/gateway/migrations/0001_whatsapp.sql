-- WhatsApp messages received, stored before the webhook is answered 200. The message id
-- (wamid) is the primary key: a redelivered message is stored once and takes effect once.
-- Sender and text are encrypted (they carry phone numbers, names and birth dates).
CREATE TABLE inbound_messages (
    wamid            text PRIMARY KEY,
    phone_number_id  text NOT NULL,
    -- Keyed hash of the sender (WhatsApp user id, else phone): orders one person's messages.
    sender_key       text NOT NULL,
    -- {"phone": "+62...", "user_id": "ID.123..."} encrypted.
    sender_enc       bytea NOT NULL,
    -- {"kind": "text"|"reply"|"other", "text": ..., "reply_id": ...} encrypted.
    content_enc      bytea NOT NULL,
    sent_at          timestamptz NOT NULL,
    received_at      timestamptz NOT NULL,
    state            text NOT NULL CHECK (state IN ('PENDING', 'DONE', 'FAILED')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    lease_until      timestamptz,
    last_error       text NOT NULL DEFAULT ''
);

CREATE INDEX inbound_pending ON inbound_messages (sender_key, sent_at) WHERE state = 'PENDING';

-- Delivery statuses of our own messages, forwarded to the notification service.
CREATE TABLE status_updates (
    id           bigserial PRIMARY KEY,
    wamid        text NOT NULL,
    status       text NOT NULL,
    error        text NOT NULL DEFAULT '',
    received_at  timestamptz NOT NULL,
    state        text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'DONE')),
    UNIQUE (wamid, status)
);

-- A webhook whose signature was right but whose body could not be read (kept for review).
CREATE TABLE rejected_webhooks (
    id           bigserial PRIMARY KEY,
    body_enc     bytea NOT NULL,
    error        text NOT NULL,
    received_at  timestamptz NOT NULL
);

-- Conversation state: the booking waiting for its confirmation code, per sender and office.
CREATE TABLE conversations (
    sender_key   text NOT NULL,
    office_code  text NOT NULL,
    booking_id   uuid NOT NULL,
    expires_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (sender_key, office_code)
);

-- Appreciation and complaints sent from the menu, per office (for the dashboard).
CREATE TABLE feedback (
    id           bigserial PRIMARY KEY,
    office_code  text NOT NULL,
    wamid        text NOT NULL UNIQUE,
    text_enc     bytea NOT NULL,
    received_at  timestamptz NOT NULL
);
