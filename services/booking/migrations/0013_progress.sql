-- Application progress after the counter, per applicant: the current stage (told to the
-- applicant once stage_told), its history for the dashboard's medians, the office's pickup
-- hours and the pickup lane (C-001, ...) of the queue.
ALTER TABLE booking_applicants
    ADD COLUMN stage text NOT NULL DEFAULT 'WAITING'
        CHECK (stage IN ('WAITING', 'DOCUMENTS_CHECKED', 'PHOTO_INTERVIEW', 'PAYMENT_CONFIRMED',
                         'PRINTING', 'READY_FOR_PICKUP', 'PICKED_UP')),
    ADD COLUMN stage_at timestamptz,
    ADD COLUMN stage_told boolean NOT NULL DEFAULT true,
    ADD COLUMN pickup_reminded boolean NOT NULL DEFAULT false;

CREATE INDEX booking_applicants_untold ON booking_applicants (booking_id) WHERE NOT stage_told;
CREATE INDEX booking_applicants_uncollected ON booking_applicants (stage_at)
    WHERE stage = 'READY_FOR_PICKUP' AND NOT pickup_reminded;

CREATE TABLE application_stages (
    id           bigserial PRIMARY KEY,
    booking_id   uuid NOT NULL REFERENCES bookings (id),
    position     integer NOT NULL,
    office_code  text NOT NULL,
    stage        text NOT NULL,
    at           timestamptz NOT NULL,
    staff_id     text NOT NULL
);
CREATE INDEX application_stages_person ON application_stages (booking_id, position, at);

CREATE TABLE pickup_hours (
    office_code  text PRIMARY KEY,
    opens        time NOT NULL,
    closes       time NOT NULL,
    updated_at   timestamptz NOT NULL,
    CHECK (opens < closes)
);

-- Pickup tickets: one per booking and day, outside the appointment and priority lanes.
ALTER TABLE tickets ADD COLUMN pickup boolean NOT NULL DEFAULT false;
ALTER TABLE tickets DROP CONSTRAINT tickets_booking_id_position_key;
CREATE UNIQUE INDEX tickets_booking_person ON tickets (booking_id, position) WHERE NOT pickup;
CREATE UNIQUE INDEX tickets_pickup_once ON tickets (booking_id, date) WHERE pickup;
ALTER TABLE call_state ADD COLUMN last_pickup integer NOT NULL DEFAULT 0;
