-- What carers change from the dashboard (a device silenced, a contact's digest times), with who
-- and when. The engine keeps the settings themselves in its memory; this is their audit trail.
CREATE TABLE settings_log (
    id      INTEGER PRIMARY KEY,
    setting TEXT NOT NULL CHECK (setting IN ('silence', 'digest_at')),
    subject TEXT NOT NULL,
    value   TEXT NOT NULL,
    by      TEXT NOT NULL,
    at      TEXT NOT NULL
);

-- One-time login links made by `telecare web link`: only an argon2id hash of the secret is kept.
CREATE TABLE login_links (
    id          INTEGER PRIMARY KEY,
    contact     TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);
