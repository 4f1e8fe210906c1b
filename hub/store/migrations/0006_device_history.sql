-- Which hub commands (reassure, chime, identify) a Zigbee2MQTT device can carry out, learnt from
-- its model's exposes: NULL until Zigbee2MQTT lists it, '' when it exposes nothing usable.
ALTER TABLE devices ADD COLUMN commands TEXT;

-- The running averages of link quality give way to the hourly history below, from which the
-- signal trend is judged (rules/trend.py).
ALTER TABLE devices DROP COLUMN signal_recent;
ALTER TABLE devices DROP COLUMN signal_long;

-- Signal and battery history. Reports of the current hour wait in health_samples; once the hour
-- is over they are folded into one row of health_hours (the hour's medians) and deleted. Hours
-- older than the retention (30 days) are pruned. Kept when a device is removed, like its events.
CREATE TABLE health_samples (
    device_id   TEXT NOT NULL,
    at          TEXT NOT NULL,
    battery     INTEGER,
    linkquality INTEGER
);
CREATE INDEX health_samples_time ON health_samples (at);

CREATE TABLE health_hours (
    device_id   TEXT NOT NULL,
    hour        TEXT NOT NULL,
    battery     REAL,
    linkquality REAL,
    samples     INTEGER NOT NULL,
    PRIMARY KEY (device_id, hour)
) WITHOUT ROWID;
