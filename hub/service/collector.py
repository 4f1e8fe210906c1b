"""Keeping the garbage collector's full passes short while the hub runs.

A full collection walks every object the process holds: after start-up that is the modules,
the configuration, pydantic's and the SDKs' tables, some 25 ms of walking on the bench
machine, during which no alarm moves (it was the longest wait an alarm had at 200 messages/s).
What start-up built lives as long as the hub does, so once the hub is ready it is frozen: full
collections then walk only what came after.
"""

import gc


def settle_after_start() -> None:
    """Collect start-up's garbage, then keep the collector off everything still alive."""
    gc.collect()
    gc.freeze()
