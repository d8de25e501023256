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

-- Capacity and calendar changes now go to staff_actions with the staff member who made them.
INSERT INTO staff_actions (at, staff_id, username, role, office_code, action, target, before, after)
SELECT at, '', actor, '', office_code, action, office_code || ' ' || date, before, after
FROM calendar_changes ORDER BY id;
DROP TABLE calendar_changes;
