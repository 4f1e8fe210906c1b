-- The uplink to the monitoring centre: a durable outbox of messages for it, numbered per hub.
--
-- `uplink_outbox.seq` is the hub's sequence number on the uplink: AUTOINCREMENT, so a number is
-- never used twice, not even after its row is pruned or a heartbeat superseded. Incident changes
-- reach the outbox by triggers, inside the very transaction that writes the change: nothing on
-- the alarm path waits for, or even knows of, the centre. Without a linked centre (no
-- `uplink_link` row enabled) the triggers write nothing.

-- One row while a centre is configured: which hub we are to it, and how far it has confirmed.
CREATE TABLE uplink_link (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    hub_id        TEXT NOT NULL,
    enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    confirmed_seq INTEGER NOT NULL DEFAULT 0,
    updated_at    TEXT NOT NULL
);

-- How many ladder steps each severity has in all (its runs included): an incident still
-- firing after that many has exhausted the family.
CREATE TABLE uplink_ladders (
    severity TEXT PRIMARY KEY,
    steps    INTEGER NOT NULL CHECK (steps > 0)
);

CREATE TABLE uplink_outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('heartbeat', 'incident', 'action_applied')),
    body       TEXT NOT NULL,  -- the envelope's body, JSON
    created_at TEXT NOT NULL
);
CREATE INDEX uplink_outbox_kind ON uplink_outbox (kind, seq);

-- Operator actions from the centre, each carried out once; with what came of it.
CREATE TABLE centre_actions (
    action_id   TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    action      TEXT NOT NULL,
    operator    TEXT NOT NULL,
    applied     INTEGER NOT NULL CHECK (applied IN (0, 1)),
    detail      TEXT NOT NULL,
    at          TEXT NOT NULL
);

-- Every audited change of an incident is reported, as the incident now stands.
CREATE TRIGGER uplink_incident_changed AFTER INSERT ON incident_log
WHEN EXISTS (SELECT 1 FROM uplink_link WHERE enabled = 1)
BEGIN
    INSERT INTO uplink_outbox (kind, body, created_at)
    SELECT 'incident', json_object(
        'kind', 'incident',
        'incident_id', substr(i.id, 1, 128),
        'cause', substr(i.cause, 1, 64),
        'severity', i.severity,
        'state', i.state,
        'device_id', substr(i.device_id, 1, 64),
        'room', (SELECT substr(d.room, 1, 64) FROM devices d WHERE d.id = i.device_id),
        'opened_at', i.opened_at,
        'at', NEW.at,
        'text', substr(i.text, 1, 1000),
        'accepted_by', CASE WHEN i.state = 'acknowledged' THEN substr(i.acknowledged_by, 1, 100) END,
        'family_exhausted', json(CASE
            WHEN i.state = 'firing' AND i.steps_sent >=
                (SELECT l.steps FROM uplink_ladders l WHERE l.severity = i.severity)
            THEN 'true' ELSE 'false' END),
        'reason', substr(NEW.reason, 1, 200)
    ), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')
    FROM incidents i WHERE i.id = NEW.incident_id;
END;

-- The ladder's last step went out with nobody accepting: a step is no change of state, so no
-- audit entry says it; the centre must hear it at once (it takes the alarm then).
CREATE TRIGGER uplink_family_exhausted AFTER UPDATE OF steps_sent ON incidents
WHEN NEW.state = 'firing'
    AND EXISTS (SELECT 1 FROM uplink_link WHERE enabled = 1)
    AND NEW.steps_sent >= (SELECT l.steps FROM uplink_ladders l WHERE l.severity = NEW.severity)
    AND OLD.steps_sent < (SELECT l.steps FROM uplink_ladders l WHERE l.severity = NEW.severity)
BEGIN
    INSERT INTO uplink_outbox (kind, body, created_at)
    SELECT 'incident', json_object(
        'kind', 'incident',
        'incident_id', substr(NEW.id, 1, 128),
        'cause', substr(NEW.cause, 1, 64),
        'severity', NEW.severity,
        'state', NEW.state,
        'device_id', substr(NEW.device_id, 1, 64),
        'room', (SELECT substr(d.room, 1, 64) FROM devices d WHERE d.id = NEW.device_id),
        'opened_at', NEW.opened_at,
        'at', now,
        'text', substr(NEW.text, 1, 1000),
        'accepted_by', NULL,
        'family_exhausted', json('true'),
        'reason', 'every step of the family ladder was tried without an acceptance'
    ), now
    FROM (SELECT strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') AS now);
END;
