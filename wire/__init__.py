"""The wire contract: what crosses a process or network boundary, and nothing that does I/O."""
