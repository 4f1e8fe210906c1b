"""The hub's MQTT side: the session with the broker, acks, device logins, a local broker."""
