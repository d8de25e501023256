-- Retention: a booking's personal data is erased some time after its appointment (see
-- retention.rs); erased_at marks the rows done, and the index finds those still to do.
ALTER TABLE bookings ADD COLUMN erased_at timestamptz;
CREATE INDEX bookings_to_erase ON bookings (date) WHERE erased_at IS NULL;
