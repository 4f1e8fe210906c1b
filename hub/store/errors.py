"""What the store raises: a database it cannot use, or a write the disk refused."""


class StoreError(Exception):
    """The store cannot be used as it is."""


class StoreCorruptError(StoreError):
    """The database file is damaged (or is not a database at all)."""


class StoreWriteError(StoreError):
    """A write could not reach the disk (full, read-only, failing): it may succeed later."""
