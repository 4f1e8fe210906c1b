-- Each send of an outbox entry to a provider and its outcome: counts SMS and calls against each
-- contact's budget, and keeps the provider's id so delivery status can be followed.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    notification_id INTEGER NOT NULL REFERENCES notifications (id),
    channel         TEXT NOT NULL,
    contact         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('sent', 'delivered', 'failed')),
    ref             TEXT,
    detail          TEXT,
    started_at      TEXT NOT NULL,
    finished_at     TEXT
);
CREATE INDEX deliveries_notification ON deliveries (notification_id);
CREATE INDEX deliveries_budget ON deliveries (contact, channel, started_at);
CREATE INDEX deliveries_state ON deliveries (state);

-- Secrets the hub makes for itself (the key that signs acknowledgement tokens).
CREATE TABLE hub_secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

-- SMS replies the hub has acted on, so that none is obeyed twice and none sent while the hub
-- was down is missed: polling resumes from the newest one.
CREATE TABLE inbound_replies (
    sid         TEXT PRIMARY KEY,
    sender      TEXT NOT NULL,
    received_at TEXT NOT NULL,
    handled_at  TEXT NOT NULL
);
CREATE INDEX inbound_replies_received ON inbound_replies (received_at);
