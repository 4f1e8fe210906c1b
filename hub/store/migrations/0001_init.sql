-- Devices known to the hub: declared in the configuration file or paired from the CLI.
CREATE TABLE devices (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    room          TEXT,
    source        TEXT NOT NULL,
    friendly_name TEXT,
    model         TEXT,
    origin        TEXT NOT NULL CHECK (origin IN ('config', 'paired')),
    online        INTEGER,
    battery       INTEGER,
    last_seen     TEXT,
    created_at    TEXT NOT NULL
);

-- Every accepted device event, in the order it was committed. Append-only.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    device_id   TEXT NOT NULL,
    type        TEXT NOT NULL,
    source      TEXT NOT NULL,
    received_at TEXT NOT NULL,
    ts          TEXT,
    seq         INTEGER,
    battery     INTEGER,
    value       REAL,
    topic       TEXT,
    mqtt_mid    INTEGER,
    digest      BLOB
);
CREATE INDEX events_digest ON events (digest);
CREATE INDEX events_device_time ON events (device_id, received_at);
CREATE TRIGGER events_append_only BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TABLE incidents (
    id         TEXT PRIMARY KEY,
    cause      TEXT NOT NULL,
    severity   TEXT NOT NULL,
    state      TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    opened_at  TEXT NOT NULL,
    fired_at   TEXT,
    due_at     TEXT,
    steps_sent INTEGER NOT NULL DEFAULT 0,
    closed_at  TEXT,
    text       TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX incidents_state ON incidents (state);

-- The audit trail: every state change of an incident and why.
CREATE TABLE incident_log (
    id          INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    at          TEXT NOT NULL,
    previous    TEXT,
    state       TEXT NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX incident_log_incident ON incident_log (incident_id);

-- The durable outbox: written in the same transaction as the decision, sent after commit.
CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    severity    TEXT NOT NULL,
    contact     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    text        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'delivered', 'failed')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    detail      TEXT
);
CREATE INDEX notifications_state ON notifications (state);
