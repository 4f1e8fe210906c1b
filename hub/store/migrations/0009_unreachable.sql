-- An outbox entry that failed because its provider did not answer (timeouts, 5xx, 429, after
-- every retry), rather than because it refused: an alarm so failed is owed to its contact once
-- the provider is back (notifier/redelivery.py). The index keeps the search for them cheap.
ALTER TABLE notifications ADD COLUMN unreachable INTEGER NOT NULL DEFAULT 0
    CHECK (unreachable IN (0, 1));
CREATE INDEX notifications_unreachable ON notifications (incident_id)
    WHERE unreachable = 1 AND state = 'failed';
