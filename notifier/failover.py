"""Where an alert goes when its channel has failed for good, and the notice that says so.

A permanent failure (a bad number, a refused request, retries spent, the budget exhausted, a
message Twilio reports undelivered, a call nobody answered, a Pushover alarm no phone received)
never ends an emergency or urgent alert: it moves to the contact's next channel at once, without
waiting for the ladder's next step, and a "delivery failing" notice is put on the local outbox,
where the dashboard and the installer see it. Information is not re-routed; only the notice is
raised. Once an alarm has failed on every phone path of its contact (`Failover.unreached`), the
hub also brings the ladder's next step forward (`rules.ladder.Ladder.bring_forward`).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from notifier.model import Delivery, OutboxEntry
from rules.incidents import Notify
from rules.policy import Channel, Contact

# Pushover comes straight after ntfy: an emergency on it rings until acknowledged, through a
# silenced iPhone too (critical alerts), which nothing after it can promise.
FAILOVER_ORDER: tuple[Channel, ...] = (
    "ntfy",
    "pushover",
    "sms",
    "whatsapp",
    "voice",
    "apprise",
    "outbox",
)
NOTICE_CHANNEL: Channel = "outbox"
VIA = "via-"
NOTICE_SUFFIX = "/notice"


def routes_for(
    contacts: Mapping[str, Contact], configured: set[str], apprise_contacts: set[str]
) -> dict[str, tuple[Channel, ...]]:
    """Each contact's usable channels, in the order failover tries them."""
    routes: dict[str, tuple[Channel, ...]] = {}
    for name, contact in contacts.items():
        usable: list[Channel] = []
        for channel in FAILOVER_ORDER:
            if channel not in configured:
                continue
            if channel in {"sms", "whatsapp", "voice"} and contact.phone is None:
                continue
            if channel == "ntfy" and contact.ntfy_topic is None:
                continue
            if channel == "pushover" and contact.pushover_user is None:
                continue
            if channel == "apprise" and name not in apprise_contacts:
                continue
            usable.append(channel)
        routes[name] = tuple(usable)
    return routes


def tried_channels(entry: OutboxEntry) -> set[str]:
    """The channels an alert has already been through (recorded in its failover key).

    A key is the step's (`<incident>/<step>/<contact>/<channel>`) with a `via-<channel>` part
    added at each move: the step's own channel is the part before the first of them.
    """
    parts = entry.key.split("/")
    moves = [n for n, part in enumerate(parts) if part.startswith(VIA)]
    tried: set[str] = {entry.channel, *(parts[n].removeprefix(VIA) for n in moves)}
    if moves:
        tried.add(parts[moves[0] - 1])
    return tried


def step_key(entry: OutboxEntry) -> str:
    """The key of the ladder step an entry carries (its own, before any `via-` part)."""
    parts = entry.key.split("/")
    moves = [n for n, part in enumerate(parts) if part.startswith(VIA)]
    return "/".join(parts[: moves[0]]) if moves else entry.key


@dataclass(frozen=True, slots=True)
class Failover:
    """Decides the next channel for a failed entry and words the notice."""

    routes: Mapping[str, tuple[Channel, ...]]

    def unreached(self, entry: OutboxEntry) -> bool:
        """Whether the failed alert `entry` has no phone path left: only the outbox takes it.

        Each channel it went through failed for good in turn (failover tries one at a time,
        and a message still on its way has not failed), so its contact could not be reached.
        Information and notices are never rerouted, so never count.
        """
        if entry.key.endswith(NOTICE_SUFFIX) or entry.severity == "info":
            return False
        if entry.channel == NOTICE_CHANNEL:
            return False
        tried = tried_channels(entry)
        left = [c for c in self.routes.get(entry.contact, ()) if c not in tried]
        return all(c == NOTICE_CHANNEL for c in left)

    def plan(self, entry: OutboxEntry, delivery: Delivery, *, at: datetime) -> list[Notify]:
        """New outbox entries for a failed one: the alert on its next channel, and a notice."""
        if entry.key.endswith(NOTICE_SUFFIX):
            return []  # a notice that failed is logged, not noticed again
        tried = tried_channels(entry)
        following = [c for c in self.routes.get(entry.contact, ()) if c not in tried]
        notes: list[Notify] = []
        moved_to = following[0] if following and entry.severity != "info" else None
        if moved_to is not None:
            notes.append(self._moved(entry, moved_to, at))
        if entry.channel != NOTICE_CHANNEL:
            notes.append(self._notice(entry, delivery, moved_to, at))
        return notes

    @staticmethod
    def _moved(entry: OutboxEntry, channel: Channel, at: datetime) -> Notify:
        return Notify(
            key=f"{entry.key}/{VIA}{channel}",
            incident_id=entry.incident_id,
            severity=entry.severity,
            contact=entry.contact,
            channel=channel,
            text=entry.text,
            at=at,
        )

    @staticmethod
    def _notice(
        entry: OutboxEntry, delivery: Delivery, moved_to: Channel | None, at: datetime
    ) -> Notify:
        then = f"trying {moved_to} instead" if moved_to else "no other way to reach them is left"
        return Notify(
            key=entry.key + NOTICE_SUFFIX,
            incident_id=entry.incident_id,
            severity="urgent",
            contact=entry.contact,
            channel=NOTICE_CHANNEL,
            text=(
                f"Delivery failing: {entry.channel} to {entry.contact} did not get through"
                f" ({delivery.detail or 'no reason given'}); {then}."
            ),
            at=at,
        )
