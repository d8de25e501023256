-- Pending messages in the order they were written: the inbox claim walks this and stops
-- once it has found enough senders' heads, however long the backlog.
CREATE INDEX inbound_pending_by_time ON inbound_messages (sent_at, received_at, wamid)
    WHERE state = 'PENDING';
