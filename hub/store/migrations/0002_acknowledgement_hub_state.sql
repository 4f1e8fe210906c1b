-- Acknowledgement and re-firing: who said they are handling an incident, and how many times it
-- fired again because it was acknowledged but not resolved in time (numbers its notifications).
ALTER TABLE incidents ADD COLUMN round INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN acknowledged_by TEXT;

-- What the engine resumes with besides open incidents: who else is at home (`occupied_by`) and
-- its memory (`engine_memory`: held digests, doses, recent firings), saved with each decision.
CREATE TABLE hub_state (
    key        TEXT PRIMARY KEY,
    value      TEXT,
    updated_at TEXT NOT NULL
);
