-- Waitlists of full sessions. The request to book (names, birth dates, NIK, phone) is kept
-- encrypted until it is offered; contact_key (a keyed hash of the phone) keeps one entry per
-- phone and session.
--   WAITING -> OFFERED (a HELD booking with its own expiry) -> BOOKED | PASSED
--   WAITING -> DROPPED (the people can no longer book: already booked, blocked, ...)
CREATE TABLE waitlist_entries (
    id               uuid PRIMARY KEY,
    seq              bigserial UNIQUE,
    office_code      text NOT NULL,
    date             date NOT NULL,
    session          text NOT NULL,
    seats            integer NOT NULL CHECK (seats BETWEEN 1 AND 5),
    channel          text NOT NULL,
    contact_key      text NOT NULL,
    request_enc      bytea NOT NULL,
    state            text NOT NULL CHECK (state IN ('WAITING', 'OFFERED', 'BOOKED', 'PASSED', 'DROPPED')),
    booking_id       uuid REFERENCES bookings (id),
    offer_expires_at timestamptz,
    -- The offer's WhatsApp message was accepted by the notification service.
    offer_sent       boolean NOT NULL DEFAULT false,
    note             text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- One live entry per phone and session.
CREATE UNIQUE INDEX waitlist_one_per_phone ON waitlist_entries (office_code, date, session, contact_key)
    WHERE state IN ('WAITING', 'OFFERED');
CREATE INDEX waitlist_live ON waitlist_entries (office_code, date, session, seq)
    WHERE state IN ('WAITING', 'OFFERED');
