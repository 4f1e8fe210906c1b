"""Uplink partitions: each hub's messages go to one of `PARTITIONS` consumers, in its own order.

A hub publishes under `uplink.<hub>.<kind>`. The brokers map that subject, as they take it, to
`uplink.<hub>.<kind>.<partition>`, the partition being a hash of the hub's id (NATS's own subject
mapping `{{partition(n, 1)}}`: FNV-1a, 32 bits, modulo n). Each partition has its own durable
consumer, and each consumer is read by one worker at a time, one message after another: a hub's
messages are written in the order its hub sent them, however many workers share the work.

Worker `slot` of `count` reads the partitions `p` with `p % count == slot`. Pure: no I/O.
"""

UPLINK_PARTITIONS = 16
STORED_SUBJECTS = "uplink.*.*.*"
UPLINK_MAPPING = {
    "uplink.*.*": f"uplink.{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}"
    f".{{{{partition({UPLINK_PARTITIONS},1)}}}}"
}
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def partition_of(hub_id: str) -> int:
    """The partition the brokers put `hub_id`'s messages in (as NATS computes it)."""
    digest = _FNV_OFFSET
    for byte in hub_id.encode():
        digest = ((digest ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return digest % UPLINK_PARTITIONS


def stored_subject(hub_id: str, kind: str) -> str:
    """`uplink.<hub>.<kind>.<partition>`: the subject the stream holds a hub's message under."""
    return f"uplink.{hub_id}.{kind}.{partition_of(hub_id)}"


def partition_filter(partition: int) -> str:
    """The subjects of one partition, every hub and kind in it."""
    return f"uplink.*.*.{partition}"


def partition_consumer(partition: int) -> str:
    """The durable pull consumer of one partition."""
    return f"centre-workers-{partition}"


def share(slot: int, count: int) -> tuple[int, ...]:
    """The partitions worker `slot` (0-based) of `count` reads.

    Raises:
        ValueError: `slot` is not one of `count`, or there are more workers than partitions.
    """
    if not 1 <= count <= UPLINK_PARTITIONS:
        msg = f"{count} workers: at least 1 and at most {UPLINK_PARTITIONS} (one per partition)"
        raise ValueError(msg)
    if not 0 <= slot < count:
        msg = f"worker slot {slot} is not one of 0 to {count - 1}"
        raise ValueError(msg)
    return tuple(p for p in range(UPLINK_PARTITIONS) if p % count == slot)


def subject_parts(subject: str) -> tuple[str, str] | None:
    """(hub, kind) of a stored uplink subject `uplink.<hub>.<kind>.<partition>`, or None."""
    parts = subject.split(".")
    if len(parts) != 4 or parts[0] != "uplink":  # noqa: PLR2004
        return None
    return parts[1], parts[2]
