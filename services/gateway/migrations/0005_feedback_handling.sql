-- #SARAN feedback reaches the office: who sent it (encrypted, for the one answer), when and
-- by whom it was handled and answered.
ALTER TABLE feedback
    ADD COLUMN sender_enc   bytea,
    ADD COLUMN handled_at   timestamptz,
    ADD COLUMN handled_by   text,
    ADD COLUMN answer_enc   bytea,
    ADD COLUMN answered_at  timestamptz,
    ADD COLUMN answered_by  text;
CREATE INDEX feedback_by_office ON feedback (office_code, received_at DESC);

-- Who signed in (the staff id for the audit trail).
ALTER TABLE staff_sessions ADD COLUMN staff_id text NOT NULL DEFAULT '';

-- The console's own staff actions (feedback handled and answered), as every service keeps
-- them (antrean_platform::audit).
CREATE TABLE staff_actions (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL,
    staff_id     text NOT NULL,
    username     text NOT NULL,
    role         text NOT NULL,
    office_code  text NOT NULL,
    action       text NOT NULL,
    target       text NOT NULL,
    before       jsonb,
    after        jsonb
);
