-- The W3C traceparent of the request that accepted the message: its delivery, which happens
-- later in a worker, continues that trace.
ALTER TABLE outbox ADD COLUMN traceparent text NOT NULL DEFAULT '';
