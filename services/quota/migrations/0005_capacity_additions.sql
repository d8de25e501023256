-- Seats added by AddCapacity, one row per idempotency key: a replay adds nothing.
CREATE TABLE capacity_additions (
    idempotency_key  text PRIMARY KEY,
    office_code      text NOT NULL,
    date             date NOT NULL,
    session          text NOT NULL,
    seats            integer NOT NULL,
    at               timestamptz NOT NULL
);
