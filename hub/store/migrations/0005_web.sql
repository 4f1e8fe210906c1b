-- Who of the household says they are at home, set from the dashboard. Append-only: the latest
-- row per name is the current state, and the history shows when people came and went.
CREATE TABLE occupancy_log (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('home', 'away')),
    at    TEXT NOT NULL
);
CREATE INDEX occupancy_log_name ON occupancy_log (name, id);

-- Notes people add to an incident on the dashboard ("Mum pressed by mistake").
CREATE TABLE incident_notes (
    id          INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    author      TEXT NOT NULL,
    text        TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX incident_notes_incident ON incident_notes (incident_id, id);
