-- E-mail attachments (the proof of booking PDF): kept while the message is queued, cleared
-- with its other personal data once it is sent or given up.
ALTER TABLE outbox ADD COLUMN attachment_name text, ADD COLUMN attachment bytea;
