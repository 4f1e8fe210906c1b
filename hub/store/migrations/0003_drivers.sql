-- Device health for installers: the last signal strength each device reported, and its
-- recent and long-run averages (a recent average well below the long-run one: signal falling).
ALTER TABLE devices ADD COLUMN linkquality INTEGER;
ALTER TABLE devices ADD COLUMN signal_recent REAL;
ALTER TABLE devices ADD COLUMN signal_long REAL;

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
