-- When a ticket was first called: the end of its wait from check-in (the directorate's
-- waiting time). `called_at` moves with every recall; this does not. Tickets called before
-- this column existed count from their last call.
ALTER TABLE tickets ADD COLUMN first_called_at timestamptz;
UPDATE tickets SET first_called_at = called_at WHERE called_at IS NOT NULL;
