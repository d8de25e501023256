-- Queued messages in the order the delivery workers walk them: by when they are due, then by
-- id (messages accepted together share their time).
CREATE INDEX outbox_due_walk ON outbox (next_attempt_at, id) WHERE state = 'QUEUED';
DROP INDEX outbox_due;
