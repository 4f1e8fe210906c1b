-- Acknowledgement and re-firing: who said they are handling an incident, and how many times it
-- fired again because it was acknowledged but not resolved in time (numbers its notifications).
ALTER TABLE incidents ADD COLUMN round INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN acknowledged_by TEXT;

-- Hub-wide settings the engine resumes with: who else is at home (occupancy).
CREATE TABLE hub_state (
    key        TEXT PRIMARY KEY,
    value      TEXT,
    updated_at TEXT NOT NULL
);
