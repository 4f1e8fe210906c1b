-- Key presses on alert calls, relayed by the console to homes' hubs behind NAT: each request
-- waits here, briefly, for its hub's answer (written by the workers from the uplink).
CREATE TABLE relay_requests (
    relay_id     text PRIMARY KEY,
    hub_id       text NOT NULL REFERENCES hubs(id),
    received_at  timestamptz NOT NULL,
    answered_at  timestamptz,
    accepted     boolean,
    say          text
);
CREATE INDEX relay_requests_by_age ON relay_requests (received_at);
