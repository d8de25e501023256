-- The queue at the counters. Checking in gives every person of the booking a ticket in the
-- appointment lane (their queue number, ordered by scheduled time); walk-ins get a ticket in
-- the priority lane (P-001, ordered by issue time).
--   WAITING -> CALLED -> SERVED | SKIPPED
CREATE TABLE tickets (
    id               uuid PRIMARY KEY,
    office_code      text NOT NULL,
    date             date NOT NULL,
    session          text NOT NULL,
    priority         boolean NOT NULL,
    booking_id       uuid REFERENCES bookings (id),
    position         integer,
    queue_number     text NOT NULL,
    name             text NOT NULL,
    priority_reason  text NOT NULL DEFAULT '',
    order_at         timestamptz NOT NULL,
    state            text NOT NULL CHECK (state IN ('WAITING', 'CALLED', 'SERVED', 'SKIPPED')),
    counter          text NOT NULL DEFAULT '',
    called_at        timestamptz,
    recalls          integer NOT NULL DEFAULT 0,
    -- Order of calls and recalls (the display shows the newest first).
    call_seq         bigint,
    finished_at      timestamptz,
    created_at       timestamptz NOT NULL,
    UNIQUE (office_code, date, queue_number),
    UNIQUE (booking_id, position)
);

CREATE INDEX tickets_waiting ON tickets (office_code, date, priority, order_at, queue_number)
    WHERE state = 'WAITING';
CREATE SEQUENCE ticket_calls;
CREATE INDEX tickets_called ON tickets (office_code, date, call_seq DESC) WHERE call_seq IS NOT NULL;

-- Per office and day: appointments called since the last priority ticket (fairness), and the
-- last walk-in number given. The row is locked by every call, so two counters never get the
-- same ticket.
CREATE TABLE call_state (
    office_code     text NOT NULL,
    date            date NOT NULL,
    since_priority  integer NOT NULL DEFAULT 0,
    last_walk_in    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (office_code, date)
);

-- Walk-in priority seats per session. After the cut-off the unused seats are added to the
-- session's general capacity in the quota service (AddCapacity, idempotent per session).
CREATE TABLE priority_quota (
    office_code      text NOT NULL,
    date             date NOT NULL,
    session          text NOT NULL,
    capacity         integer NOT NULL CHECK (capacity >= 0),
    used             integer NOT NULL DEFAULT 0,
    cutoff_at        timestamptz NOT NULL,
    cutoff_local     text NOT NULL,
    rolled_over      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (office_code, date, session),
    CHECK (used <= capacity)
);

CREATE INDEX priority_rollover_due ON priority_quota (cutoff_at) WHERE NOT rolled_over;
