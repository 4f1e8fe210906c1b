"""The hub's SQLite store: the one owner of the database file, its schema and its backups."""
