"""The hub's link to a monitoring centre: the uplink publisher and the downlink of operator actions.

Only this package touches the NATS client. It is built only when the configuration has a
`[centre]` section; the home's own alerting never waits on it.
"""
