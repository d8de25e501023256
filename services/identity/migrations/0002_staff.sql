-- Staff accounts. Passwords are Argon2id hashes (PHC strings); repeated failures lock the
-- account for a while.
CREATE TABLE staff (
    id               uuid PRIMARY KEY,
    username         text NOT NULL UNIQUE,
    display_name     text NOT NULL,
    password_hash    text NOT NULL,
    role             text NOT NULL CHECK (role IN ('OFFICE_STAFF', 'OFFICE_HEAD', 'DIRECTORATE_ADMIN')),
    -- Empty for directorate admins.
    office_code      text NOT NULL,
    active           boolean NOT NULL DEFAULT true,
    failed_logins    integer NOT NULL DEFAULT 0,
    locked_until     timestamptz,
    created_at       timestamptz NOT NULL,
    CHECK ((role = 'DIRECTORATE_ADMIN') = (office_code = ''))
);

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
