-- Acknowledgement and re-firing: who said they are handling an incident, and how many times it
-- fired again because it was acknowledged but not resolved in time (numbers its notifications).
ALTER TABLE incidents ADD COLUMN round INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN acknowledged_by TEXT;
