"""The operators' web console: the live queue, each home's page, accept/resolve and the audit."""
