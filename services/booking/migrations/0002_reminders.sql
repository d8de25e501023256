-- The day-before (H-1) reminder: when it is due (office-local 09:00 the day before) and
-- whether the notification service accepted it.
ALTER TABLE bookings
    ADD COLUMN remind_at      timestamptz,
    ADD COLUMN reminder_sent  boolean NOT NULL DEFAULT false;

CREATE INDEX bookings_reminder_due ON bookings (remind_at)
    WHERE status = 'CONFIRMED' AND NOT reminder_sent;
