-- Bookings and their state machine. Every transition is a row in booking_events; nothing is
-- deleted.
--
--   HELD -> CONFIRMED -> CHECKED_IN -> SERVED
--   side exits: HELD -> EXPIRED | CANCELLED; CONFIRMED -> CANCELLED | FORFEITED | NO_SHOW

CREATE TABLE bookings (
    id                    uuid PRIMARY KEY,
    idempotency_key       text NOT NULL UNIQUE,
    -- SHA-256 of the request without its key: a replay must carry the same content.
    request_hash          text NOT NULL,
    channel               text NOT NULL,
    office_code           text NOT NULL,
    date                  date NOT NULL,
    session               text NOT NULL CHECK (session IN ('PAGI', 'SIANG')),
    timezone              text NOT NULL,
    session_start_at      timestamptz NOT NULL,
    session_end_at        timestamptz NOT NULL,
    contact_id            uuid NOT NULL,
    contact_phone_masked  text NOT NULL,
    status                text NOT NULL CHECK (status IN ('HELD', 'CONFIRMED', 'CHECKED_IN',
                              'SERVED', 'EXPIRED', 'CANCELLED', 'FORFEITED', 'NO_SHOW')),
    -- Six digits sent to the contact phone; useless once the booking leaves HELD.
    confirmation_code     text NOT NULL,
    confirm_attempts      integer NOT NULL DEFAULT 0,
    expires_at            timestamptz NOT NULL,
    -- Crockford base32, 12 symbols + check symbol, without hyphens.
    booking_code          text UNIQUE,
    -- Follow-ups done after the state change committed, retried by the sweeper until done.
    seats_released        boolean NOT NULL DEFAULT false,
    no_show_recorded      boolean NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    confirmed_at          timestamptz
);

CREATE INDEX bookings_contact ON bookings (contact_id, created_at DESC);
CREATE INDEX bookings_held_expiry ON bookings (expires_at) WHERE status = 'HELD';
CREATE INDEX bookings_confirmed_end ON bookings (session_end_at) WHERE status = 'CONFIRMED';
CREATE INDEX bookings_release_pending ON bookings (updated_at)
    WHERE status IN ('EXPIRED', 'CANCELLED') AND NOT seats_released;

CREATE TABLE booking_applicants (
    booking_id        uuid NOT NULL REFERENCES bookings (id),
    position          integer NOT NULL,
    applicant_id      uuid NOT NULL,
    -- Opaque key of the person (from the identity service).
    person_key        text NOT NULL,
    name              text NOT NULL,
    application_type  text NOT NULL,
    office_code       text NOT NULL,
    date              date NOT NULL,
    session           text NOT NULL,
    queue_seq         integer,
    queue_number      text,
    scheduled_at      timestamptz,
    -- True while the booking is HELD, CONFIRMED or CHECKED_IN.
    active            boolean NOT NULL,
    PRIMARY KEY (booking_id, position)
);

-- One active booking per person, nationwide.
CREATE UNIQUE INDEX one_active_booking_per_person ON booking_applicants (person_key) WHERE active;
-- Queue numbers are unique per office, date and session.
CREATE UNIQUE INDEX queue_numbers_unique ON booking_applicants (office_code, date, session, queue_seq);

-- The last queue number given per office, date and session: incremented inside the confirm
-- transaction, so numbers are gapless (a rolled-back confirm rolls its numbers back too).
CREATE TABLE queue_counters (
    office_code  text NOT NULL,
    date         date NOT NULL,
    session      text NOT NULL,
    last         integer NOT NULL,
    PRIMARY KEY (office_code, date, session)
);

CREATE TABLE booking_events (
    id           bigserial PRIMARY KEY,
    booking_id   uuid NOT NULL REFERENCES bookings (id),
    from_status  text,
    to_status    text NOT NULL,
    reason       text NOT NULL DEFAULT '',
    at           timestamptz NOT NULL
);

CREATE INDEX booking_events_booking ON booking_events (booking_id, id);
