-- Who of the household says they are at home, set from the dashboard. Append-only: the latest
-- row per name is the current state, and the history shows when people came and went.
CREATE TABLE occupancy_log (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('home', 'away')),
    at    TEXT NOT NULL
);
CREATE INDEX occupancy_log_name ON occupancy_log (name, id);
