"""Alerts sent while the card kept no record of them: kept on the broker, never sent twice.

While the disk refuses writes, alarms go out from memory (see `hub.store.backlog`), and the
messages that raised them stay unacknowledged, so the broker delivers them again to a hub that
restarts before the disk took its writes (after a crash, or the check and restart a card that
turned read-only needs). The restarted hub would raise the alarm again: its card has no record
of the send. So each send from memory that a provider took is recorded here, and published,
retained, on `SENT_TOPIC`: the broker keeps it where it keeps the unacknowledged messages (in
its memory, and in its own persistence). The hub reads it back at start; when the broker's
redelivery opens the same incident again, or a restored incident's ladder comes to a step
already sent, the notification is written as sent, with its outcome, and not sent again.

A notification the card held, pending, before it failed (a step of the ladder decided just
before, a retry) and sent while it refused writes is recorded so too, with its entry's id: at
the next start, before the dispatcher reads the outbox, its send is written on that entry, and
the dispatcher, which sends every entry left pending, does not send it again.

The hub's own notice that it cannot save to its card is recorded so too. No message opened
it (the hub raised it of itself), so it is known again by its cause, tagged `FAULT_TAG`: a hub
that restarts with that record on the broker is in the same fault until the card takes a
write, and raises it at once, its notice written as sent, not sent again (`fault_told`); once
the fault is on the card (the card taking writes again, or the catch-up), the record goes, all
of it, also the notices of steps the fault's ladder had reached before the restart and does not
reach again, and a later fault gets a notice of its own.

Knowing an incident again: one the store holds keeps its id. One that opened while the card
kept no record is known by the messages among which was the one that opened it (packet id and
digest: the broker redelivers a message with both, flagged as a redelivery), with its cause and
device; its id cannot tell, as ids are numbered from the store. Any doubt is a repeat, never a
silence: an alert is held back only when it is the one already sent. So the alarm does go out
again if its record never reached the broker (a crash in the milliseconds after the send), if
the broker lost it together with the messages (a reboot before it could save them), or if it
is older than `KEEP`.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.store.commit import SENT_BEFORE_DETAIL, AcceptedEvent, Batch
from hub.store.deliveries import Outcome
from notifier.model import Delivery, OutboxEntry
from rules.incidents import Incident, IncidentChanged, Notify
from wire.schema import InboundMessage, SentIncident, SentNotice, SentPayload

log = logging.getLogger("telecare.store")
FAULT_CAUSE = "storage_failing"  # the hub's own incident: it cannot save to its card
FAULT_TAG = "hub.storage_failing"  # how that incident is known again: no message opened it
KEEP = timedelta(hours=24)  # a record older than this is let go: its alert would go out again
OPENED_BY_MAX = 32  # messages kept, per incident, to know it again by


@dataclass(slots=True, eq=False)
class _Record:
    """An incident's alerts sent from memory (mutable: notices go as they are written)."""

    incident_id: str
    cause: str | None
    device_id: str | None
    opened_by: frozenset[str] | None
    sent: list[SentNotice]

    @classmethod
    def of(cls, incident: SentIncident) -> "_Record":
        opened_by = None if incident.opened_by is None else frozenset(incident.opened_by)
        return cls(
            incident.incident_id, incident.cause, incident.device_id, opened_by, incident.sent
        )

    def payload(self) -> SentIncident:
        opened_by = None if self.opened_by is None else sorted(self.opened_by)
        return SentIncident(
            incident_id=self.incident_id,
            cause=self.cause,
            device_id=self.device_id,
            opened_by=opened_by,
            sent=self.sent,
        )


def _tag(accepted: AcceptedEvent) -> str | None:
    """How a message is known again: its packet id and digest."""
    if accepted.mqtt_mid is None or accepted.digest is None:
        return None
    return f"{accepted.mqtt_mid}:{accepted.digest.hex()}"


def _opened(batch: Batch) -> list[Incident]:
    return [
        a.incident for a in batch.actions if isinstance(a, IncidentChanged) and a.previous is None
    ]


def _sent_before(entry: OutboxEntry, notice: SentNotice) -> Outcome:
    """The send of a stored entry before the restart, as the outcome to write on it."""
    delivery = Delivery(notice.state, SENT_BEFORE_DETAIL, ref=notice.ref)
    return Outcome(entry.id, entry, notice.channel, delivery, notice.at, notice.at)


def _fresh(incidents: Sequence[SentIncident], now: datetime) -> list[_Record]:
    records = [_Record.of(i) for i in incidents]
    for record in records:
        record.sent = [n for n in record.sent if now - n.at <= KEEP]
    return [r for r in records if r.sent]


class SentLedger:
    """The alerts sent from memory, kept on the broker for a hub that restarts (see the module).

    Args:
        loaded: What the broker held at start, if anything.
        now: The time at start: older records than `KEEP` are let go.
    """

    def __init__(self, loaded: SentPayload | None = None, *, now: datetime) -> None:
        self._loaded = [] if loaded is None else _fresh(loaded.incidents, now)
        self._own: dict[str, _Record] = {}  # sent from memory since this start
        self._unstored: dict[str, _Record] = {}  # incidents opened in batches the disk refused
        self._bound: dict[str, list[_Record]] = {}  # an incident now: what was sent of it before
        for record in self._loaded:
            if record.opened_by is None:  # the store holds it: its id is its own
                self._bound.setdefault(record.incident_id, []).append(record)
        self._settling: set[int] = set()  # notices of stored entries, being written on them
        self._publish: Callable[[bytes], None] | None = None
        self._on_broker = loaded is not None and bool(loaded.incidents)
        if self._loaded:
            log.warning(
                "%d incident(s) had alerts sent that the card has no record of: those are not"
                " sent again",
                len(self._loaded),
            )

    @property
    def fault_told(self) -> bool:
        """Whether the carers were told, before this start, that the card refused writes."""
        return any(r.opened_by is not None and FAULT_TAG in r.opened_by for r in self._loaded)

    def publish_to(self, publish: Callable[[bytes], None]) -> None:
        """Where the ledger goes (retained on `SENT_TOPIC`) each time it changes."""
        self._publish = publish
        if self._on_broker and not self._loaded:
            self._announce()  # all it held was too old: the broker's copy goes

    # -- while the disk refuses writes -------------------------------------------------------

    def hold(self, batch: Batch) -> None:
        """A batch the disk refused: how to know again each incident it opened."""
        for incident in _opened(batch):
            tags = [
                tag
                for accepted in batch.events
                if accepted.event.device_id == incident.device_id and (tag := _tag(accepted))
            ]
            if not tags and incident.cause == FAULT_CAUSE:
                tags = [FAULT_TAG]
            opened_by = frozenset(tags[:OPENED_BY_MAX])
            self._unstored[incident.id] = _Record(
                incident.id, incident.cause, incident.device_id, opened_by, []
            )

    def sent(self, outcome: Outcome) -> None:
        """A send from memory: recorded, and published, if the provider took it."""
        entry, channel, delivery = outcome.entry, outcome.channel, outcome.delivery
        if entry is None or channel is None or delivery.state == "failed":
            return
        notice = SentNotice(
            key=entry.key,
            channel=channel,
            state=delivery.state,
            ref=delivery.ref,
            at=outcome.at,
            entry_id=outcome.entry_id if outcome.entry_id > 0 else None,
        )
        record = self._own.get(entry.incident_id)
        if record is None:  # opened while the card kept no record, or held by the store
            stored = _Record(entry.incident_id, None, None, None, [])
            record = self._unstored.pop(entry.incident_id, None) or stored
            self._own[entry.incident_id] = record
        record.sent.append(notice)
        self._announce()

    def caught_up(self) -> None:
        """Everything held is written, with the outcomes of its sends: none needs recording.

        The card takes writes, so a fault recorded before the restart is over too: its notices
        go, also those of steps its ladder reached then and the fault raised again now did not
        (left, they would have the next start raise the fault once more).
        """
        self._own.clear()
        self._unstored.clear()
        settled, self._settling = self._settling, set()
        for record in self._loaded:
            if record.opened_by is not None and FAULT_TAG in record.opened_by:
                settled.update(id(notice) for notice in record.sent)
        self._drop(settled)

    # -- after a restart ---------------------------------------------------------------------

    def mark(self, batch: Batch, messages: Sequence[InboundMessage]) -> None:
        """Mark in `batch.sent` each notification of `batch` that was sent before the restart."""
        if not self._loaded:
            return
        self._bind(batch, messages)
        for action in batch.actions:
            if isinstance(action, Notify) and (notice := self._notice_for(action)) is not None:
                batch.sent[action.key] = notice

    def written(self, batch: Batch) -> None:
        """`batch` is on the disk, with what it marked as sent: those need no record here now."""
        if batch.sent:
            self._drop({id(notice) for notice in batch.sent.values()})

    def sent_before(self, pending: Sequence[OutboxEntry]) -> list[Outcome]:
        """The sends, before the restart, of entries the card still holds as `pending`.

        To be written on their entries, then `settled` (or held, and written at catch-up):
        the dispatcher must not be handed those entries. The records of entries the card
        holds as no longer pending, or not at all (a database moved aside), are let go too.
        """
        by_id = {entry.id: entry for entry in pending}
        outcomes: list[Outcome] = []
        for record in self._loaded:
            for notice in record.sent:
                if notice.entry_id is None or id(notice) in self._settling:
                    continue
                self._settling.add(id(notice))
                entry = by_id.get(notice.entry_id)
                if entry is not None and entry.key == notice.key:
                    outcomes.append(_sent_before(entry, notice))
        if outcomes:
            log.warning(
                "%d notification(s) left pending were sent before the restart: not sent again",
                len(outcomes),
            )
        return outcomes

    def settled(self) -> None:
        """The sends `sent_before` handed back are on the disk: they need no record here now."""
        if self._settling:
            settled, self._settling = self._settling, set()
            self._drop(settled)

    def _bind(self, batch: Batch, messages: Sequence[InboundMessage]) -> None:
        """Incidents the broker's redelivery opens again: what was sent of each before."""
        redelivered = {m.mid for m in messages if m.dup}
        tags = {
            tag for a in batch.events if a.mqtt_mid in redelivered and (tag := _tag(a)) is not None
        }
        if any(i.cause == FAULT_CAUSE for i in _opened(batch)):
            tags.add(FAULT_TAG)  # the fault the hub was in before it restarted
        if not tags:
            return
        for incident in _opened(batch):
            same = [
                record
                for record in self._loaded
                if record.opened_by is not None
                and (record.cause, record.device_id) == (incident.cause, incident.device_id)
                and record.opened_by & tags
            ]
            if same:
                log.info("incident %s opened again by the broker's redelivery", incident.id)
                self._bound[incident.id] = same

    def _notice_for(self, note: Notify) -> SentNotice | None:
        """The record of `note` sent before the restart, if it was."""
        if not note.key.startswith(note.incident_id):
            return None
        step = note.key[len(note.incident_id) :]
        for record in self._bound.get(note.incident_id, ()):
            wanted = record.incident_id + step
            # A notice of a stored entry is written on that entry (`sent_before`), not here.
            found = next((n for n in record.sent if n.key == wanted and n.entry_id is None), None)
            if found is not None:
                return found
        return None

    def _drop(self, done: set[int]) -> None:
        """Let go of the loaded notices `done` (by identity) and publish what is left."""
        for record in self._loaded:
            record.sent = [n for n in record.sent if id(n) not in done]
        self._loaded = [r for r in self._loaded if r.sent]
        self._announce()

    def _announce(self) -> None:
        """Publish the ledger as it is now; clear the broker's copy once it is empty."""
        # One opened with no message to know it by (a hub event) could not be known again.
        records = [r for r in (*self._loaded, *self._own.values()) if r.opened_by != frozenset()]
        if self._publish is None or (not records and not self._on_broker):
            return
        ledger = SentPayload(incidents=[r.payload() for r in records])
        self._publish(ledger.model_dump_json().encode() if records else b"")
        self._on_broker = bool(records)
