-- Who did what to this service's data, when, and the state before and after.
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
