-- The centre's first schema: homes and their hubs, what the hubs sent, the operators' queue.
CREATE TABLE homes (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    timezone        text NOT NULL DEFAULT 'Europe/London',
    -- Per incident cause or severity, seconds without an acceptance before the centre takes it:
    -- {"emergency": 180, "urgent": 900, "fall": 120}; a cause wins over its severity.
    escalation      jsonb NOT NULL DEFAULT '{"emergency": 180}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE contacts (
    home_id         text NOT NULL REFERENCES homes(id) ON DELETE CASCADE,
    name            text NOT NULL,
    phone           text,
    ntfy_topic      text,
    PRIMARY KEY (home_id, name)
);

CREATE TABLE hubs (
    id              text PRIMARY KEY,
    home_id         text NOT NULL UNIQUE REFERENCES homes(id) ON DELETE CASCADE,
    -- The hub's signing key for uplink envelopes (and the centre's for its downlink actions).
    key_hex         text NOT NULL,
    last_seq        bigint NOT NULL DEFAULT 0,
    version         text,
    started_at      timestamptz,
    last_heartbeat  timestamptz,
    silent_since    timestamptz
);

-- Every uplink message, once: the idempotency key of every write is (hub_id, seq).
CREATE TABLE uplink_messages (
    hub_id          text NOT NULL REFERENCES hubs(id) ON DELETE CASCADE,
    seq             bigint NOT NULL,
    kind            text NOT NULL,
    sent_at         timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    digest          text NOT NULL,
    body            jsonb NOT NULL,
    PRIMARY KEY (hub_id, seq)
);

CREATE TABLE devices (
    hub_id          text NOT NULL REFERENCES hubs(id) ON DELETE CASCADE,
    id              text NOT NULL,
    name            text NOT NULL,
    role            text NOT NULL,
    room            text,
    battery         integer,
    last_seen       timestamptz,
    silent          boolean NOT NULL DEFAULT false,
    PRIMARY KEY (hub_id, id)
);

-- The latest snapshot of each incident a hub reported; applied only when its seq is newer.
CREATE TABLE incidents (
    hub_id          text NOT NULL REFERENCES hubs(id) ON DELETE CASCADE,
    id              text NOT NULL,
    seq             bigint NOT NULL,
    cause           text NOT NULL,
    severity        text NOT NULL,
    state           text NOT NULL,
    device_id       text NOT NULL,
    room            text,
    opened_at       timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    text            text NOT NULL,
    accepted_by     text,
    family_exhausted boolean NOT NULL DEFAULT false,
    PRIMARY KEY (hub_id, id)
);

-- The operators' queue: an incident the family did not accept in time, or a silent hub.
CREATE TABLE alarms (
    id              bigserial PRIMARY KEY,
    home_id         text NOT NULL REFERENCES homes(id) ON DELETE CASCADE,
    hub_id          text NOT NULL REFERENCES hubs(id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('incident', 'hub_silent')),
    incident_id     text,
    severity        text NOT NULL,
    raised_at       timestamptz NOT NULL,
    why             text NOT NULL,
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'accepted', 'resolved')),
    accepted_by     text,
    accepted_at     timestamptz,
    resolved_at     timestamptz,
    cleared_at      timestamptz
);
-- One open alarm per incident, one open "hub silent" per hub.
CREATE UNIQUE INDEX alarms_one_per_incident ON alarms (hub_id, incident_id)
    WHERE kind = 'incident';
CREATE UNIQUE INDEX alarms_one_silent ON alarms (hub_id)
    WHERE kind = 'hub_silent' AND cleared_at IS NULL;
CREATE INDEX alarms_queue ON alarms (state, raised_at) WHERE state <> 'resolved';

CREATE TABLE operators (
    username        text PRIMARY KEY,
    display_name    text NOT NULL,
    role            text NOT NULL CHECK (role IN ('operator', 'supervisor')),
    password_hash   text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Every operator action, for the audit page; never updated or deleted.
CREATE TABLE operator_actions (
    id              bigserial PRIMARY KEY,
    action_id       text NOT NULL UNIQUE,
    operator        text NOT NULL REFERENCES operators(username),
    alarm_id        bigint REFERENCES alarms(id),
    action          text NOT NULL,
    note            text NOT NULL DEFAULT '',
    at              timestamptz NOT NULL DEFAULT now(),
    applied_at      timestamptz,
    applied_detail  text
);

-- Uplink messages the centre refused, by cause: forged, replayed, malformed, unknown hub.
CREATE TABLE rejections (
    id              bigserial PRIMARY KEY,
    hub_id          text,
    reason          text NOT NULL,
    at              timestamptz NOT NULL DEFAULT now()
);
