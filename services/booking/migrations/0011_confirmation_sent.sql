-- The confirmation message (booking code, queue numbers, schedule, what to bring) of a
-- booking not confirmed in a WhatsApp conversation: false until the notification service
-- accepted it; the sweeper retries. Bookings confirmed before this column count as sent.
ALTER TABLE bookings ADD COLUMN confirmation_sent boolean NOT NULL DEFAULT true;
CREATE INDEX bookings_confirmation_unsent ON bookings (updated_at)
    WHERE status = 'CONFIRMED' AND NOT confirmation_sent;
