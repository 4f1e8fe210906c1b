-- A hub's NATS password, as the bcrypt hash the broker checks; the sequence of the heartbeat
-- whose device list is shown; and when a silent hub's family was told it went silent and back.
ALTER TABLE hubs ADD COLUMN nats_password_hash text;
ALTER TABLE hubs ADD COLUMN heartbeat_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE alarms ADD COLUMN family_told_at timestamptz;
ALTER TABLE alarms ADD COLUMN family_back_told_at timestamptz;
CREATE INDEX rejections_by_reason ON rejections (reason, at);
