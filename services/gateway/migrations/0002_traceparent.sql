-- The W3C traceparent of the webhook request that stored the message: processing it, later
-- in a worker, continues that trace.
ALTER TABLE inbound_messages ADD COLUMN traceparent text NOT NULL DEFAULT '';
