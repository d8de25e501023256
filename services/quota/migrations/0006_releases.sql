-- When new dates open for booking. An office's rule: the office-local time at which the date
-- entering the horizon opens, and the draw window after it (0: no draw). One date may instead
-- open at a scheduled instant (special days, tests), even past the horizon.
CREATE TABLE release_rules (
    office_code          text PRIMARY KEY,
    release_local        time NOT NULL,
    draw_window_seconds  integer NOT NULL CHECK (draw_window_seconds BETWEEN 0 AND 86400)
);

CREATE TABLE scheduled_releases (
    office_code          text NOT NULL,
    date                 date NOT NULL,
    opens_at             timestamptz NOT NULL,
    draw_window_seconds  integer NOT NULL CHECK (draw_window_seconds BETWEEN 0 AND 86400),
    PRIMARY KEY (office_code, date)
);
