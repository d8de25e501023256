-- Rescheduling: a confirmed booking moves once to another date or session.
-- hold_id: the quota hold holding its seats (the booking's own id until it moves).
-- previous_date/previous_session: where it was before it moved (NULL: never moved).
ALTER TABLE bookings
    ADD COLUMN hold_id           uuid,
    ADD COLUMN previous_date     date,
    ADD COLUMN previous_session  text CHECK (previous_session IN ('PAGI', 'SIANG')),
    ADD COLUMN rescheduled_at    timestamptz;

-- Seats to give back to the quota, written in the same transaction as the change that frees
-- them and deleted once quota has released them; the sweeper releases what is due. A move
-- records its new hold here before asking for it (due only long after the hold's lifetime),
-- and takes it out when the booking adopts the hold: a move that stops half way never keeps
-- seats.
CREATE TABLE pending_releases (
    hold_id     uuid PRIMARY KEY,
    booking_id  uuid NOT NULL REFERENCES bookings (id),
    not_before  timestamptz NOT NULL
);
CREATE INDEX pending_releases_due ON pending_releases (not_before);
