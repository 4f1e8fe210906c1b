"""Servers the centre runs on, started on free loopback ports: for the tests, the demo, the bench.

A 3-node NATS JetStream cluster with TLS on its client port and one user per hub, and a
throwaway PostgreSQL. Production runs both as services of their own (docs/CENTRE.md).
"""
