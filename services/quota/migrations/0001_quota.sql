-- The quota service's ledger. PostgreSQL is the authority; Redis holds the hot counters,
-- rebuilt from these tables whenever they are missing.

CREATE TABLE offices (
    code                text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z0-9]{1,15}$'),
    name                text NOT NULL,
    city                text NOT NULL,
    timezone            text NOT NULL CHECK (timezone IN
                            ('Asia/Jakarta', 'Asia/Pontianak', 'Asia/Makassar', 'Asia/Jayapura')),
    address             text NOT NULL,
    wa_display_number   text NOT NULL,
    wa_phone_number_id  text NOT NULL UNIQUE,
    pagi_start          time NOT NULL DEFAULT '08:00',
    pagi_end            time NOT NULL DEFAULT '12:00',
    siang_start         time NOT NULL DEFAULT '13:00',
    siang_end           time NOT NULL DEFAULT '16:00',
    pagi_capacity       integer NOT NULL DEFAULT 75 CHECK (pagi_capacity >= 0),
    siang_capacity      integer NOT NULL DEFAULT 75 CHECK (siang_capacity >= 0),
    CHECK (pagi_start < pagi_end AND siang_start < siang_end)
);

-- National holidays: every office is closed unless it opens a special-event day.
CREATE TABLE holidays (
    date        date PRIMARY KEY,
    name        text NOT NULL,
    -- Dates not yet fixed by the joint ministerial decree (SKB), estimated astronomically.
    provisional boolean NOT NULL DEFAULT false
);

-- Per office and date: overrides of the weekly rule, and the generation of the Redis counters.
CREATE TABLE quota_days (
    office_code text NOT NULL REFERENCES offices (code),
    date        date NOT NULL,
    -- NULL: the weekly rule and the holiday table decide.
    -- CLOSED: closed by the office. SPECIAL: a special-event day (e.g. Paspor Simpatik).
    override    text CHECK (override IN ('CLOSED', 'SPECIAL')),
    note        text NOT NULL DEFAULT '',
    -- Bumped each time the Redis counters of this day are rebuilt. A hold admitted by an
    -- older generation of the counters is refused when it reaches the ledger (see holds).
    epoch       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (office_code, date)
);

-- Per office, date and session: capacity and confirmed seats. Commit is a conditional update
-- here, so confirmed seats can never exceed capacity whatever Redis says.
CREATE TABLE session_quota (
    office_code text NOT NULL,
    date        date NOT NULL,
    session     text NOT NULL CHECK (session IN ('PAGI', 'SIANG')),
    capacity    integer NOT NULL CHECK (capacity >= 0),
    confirmed   integer NOT NULL DEFAULT 0 CHECK (confirmed >= 0),
    PRIMARY KEY (office_code, date, session),
    FOREIGN KEY (office_code, date) REFERENCES quota_days (office_code, date)
);

-- Every hold Redis admitted and the ledger accepted. Nothing is deleted.
CREATE TABLE holds (
    hold_id            text PRIMARY KEY,
    office_code        text NOT NULL,
    date               date NOT NULL,
    session            text NOT NULL CHECK (session IN ('PAGI', 'SIANG')),
    seats              integer NOT NULL CHECK (seats BETWEEN 1 AND 5),
    expires_at         timestamptz NOT NULL,
    -- Seats left in the session right after this hold: part of the idempotent answer.
    remaining_after    integer NOT NULL,
    -- Capacity when admitted: lowering capacity later must not refuse this hold's commit.
    admitted_capacity  integer NOT NULL,
    state              text NOT NULL CHECK (state IN ('HELD', 'COMMITTED', 'RELEASED', 'EXPIRED')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (office_code, date) REFERENCES quota_days (office_code, date)
);

CREATE INDEX holds_live ON holds (office_code, date) WHERE state IN ('HELD', 'COMMITTED');
CREATE INDEX holds_expiring ON holds (expires_at) WHERE state = 'HELD';

-- Who changed capacity or the calendar, when, and from what to what.
CREATE TABLE calendar_changes (
    id          bigserial PRIMARY KEY,
    office_code text NOT NULL,
    date        date NOT NULL,
    action      text NOT NULL,
    before      jsonb,
    after       jsonb,
    actor       text NOT NULL DEFAULT '',
    at          timestamptz NOT NULL DEFAULT now()
);
