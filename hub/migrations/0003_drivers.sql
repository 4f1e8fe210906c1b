-- Device health for installers: the last signal strength each device reported.
ALTER TABLE devices ADD COLUMN linkquality INTEGER;

-- Devices heard on the broker that are not registered, so an installer can adopt them.
CREATE TABLE unpaired_devices (
    source     TEXT NOT NULL,
    address    TEXT NOT NULL,
    model      TEXT,
    first_seen TEXT NOT NULL,
    last_seen  TEXT NOT NULL,
    messages   INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (source, address)
);
