"""The hub's event path: from a received message to a decision, committed and acknowledged."""
