"""The running hub process: composition, clock, notifier, console, systemd and heartbeat."""
