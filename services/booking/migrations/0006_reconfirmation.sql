-- Optional per office: the H-1 reminder asks for a reply that reconfirms attendance, and a
-- booking not reconfirmed by the cut-off (office-local time on the day before) is released.
CREATE TABLE office_settings (
    office_code              text PRIMARY KEY,
    reconfirm_required       boolean NOT NULL DEFAULT false,
    reconfirm_cutoff_local   text NOT NULL DEFAULT '20:00'
);

ALTER TABLE bookings
    -- Set when a reminder that asks for reconfirmation went out: the deadline.
    ADD COLUMN reconfirm_by    timestamptz,
    ADD COLUMN reconfirmed_at  timestamptz;

CREATE INDEX bookings_reconfirm_due ON bookings (reconfirm_by)
    WHERE status = 'CONFIRMED' AND reconfirmed_at IS NULL AND reconfirm_by IS NOT NULL;
