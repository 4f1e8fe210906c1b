"""The downlink: operator actions from the centre, checked, carried out once each, reported.

An action counts only with the signature the centre makes with this hub's key, and only for
this hub. An accept takes the path a carer's acknowledgement takes (the ladder stops, the
family hears who has it, the home's devices show that help is coming); a resolve the path of
`telecare resolve`. Each action id is remembered in the store with its report for the uplink,
in one transaction, before the engine's message is acknowledged: a redelivered action is
acknowledged again and not carried out again. An action the engine redelivers because the hub
died after carrying it out, but before remembering it, finds the incident as it left it, and is
reported applied.

A key press relayed from an alert call (`RelayedVoice`) is checked by the notifier as Twilio's
own request to this hub (`VoiceRelay`) and reported, under the relay's id, with what the caller
is to be told; a relay that Twilio did not sign for this hub is refused and counted by cause.
"""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import TypeAdapter, ValidationError

from hub.pipeline.rejections import RejectLog
from hub.store.uplink import CentreActionRecord
from notifier.acks import NOT_ACKNOWLEDGED, Acknowledgement
from rules.incidents import OPEN_STATES, Incident
from wire.uplink import (
    ActionApplied,
    DownlinkMessage,
    OperatorAction,
    RelayedVoice,
    downlink_subject,
    verified,
)

if TYPE_CHECKING:  # the relay loads the Twilio SDK: only when Twilio is configured
    from notifier.voice_relay import VoiceRelay

log = logging.getLogger("telecare.uplink")
CENTRE_VIA = "on the centre's console"
RELAY_ACTION = "voice relay"
RELAY_BY = "a call's key press"
DOWNLINK: TypeAdapter[DownlinkMessage] = TypeAdapter(DownlinkMessage)


class Desk(Protocol):
    """Where a carer's acknowledgement goes (`hub.desk.HubDesk`)."""

    async def acknowledge(self, ack: Acknowledgement) -> bool:
        """Stop the ladder and tell the others who has it; False if it was not open."""
        ...


class Control(Protocol):
    """The event path's resolution, as `telecare resolve` and the dashboard use it."""

    async def resolve(
        self, incident_id: str, by: str, *, note: str | None = ..., via: str = ...
    ) -> bool:
        """Close an incident; False if it is not open."""
        ...


class ActionStore(Protocol):
    """What the downlink reads and records in the hub's store."""

    async def incident(self, incident_id: str) -> Incident | None:
        """One incident by id."""
        ...

    async def incident_log(self, incident_id: str) -> list[dict[str, Any]]:
        """An incident's audit trail, oldest first."""
        ...

    async def centre_action(self, action_id: str) -> CentreActionRecord | None:
        """An action already carried out, by id."""
        ...

    async def record_centre_action(  # one row's columns
        self,
        record: CentreActionRecord,
        *,
        action: str,
        operator: str,
        report: str,
        at: datetime,
    ) -> bool:
        """Remember an action as carried out, its report queued with it."""
        ...


class Message(Protocol):
    """A message fetched from the downlink consumer."""

    @property
    def data(self) -> bytes:
        """The message's payload."""
        ...

    async def ack(self) -> None:
        """Done with: not to be delivered again."""
        ...

    async def term(self) -> None:
        """Refused: not to be delivered again."""
        ...


def operator_name(action: OperatorAction) -> str:
    """How the family is told who took it: "Sam at the monitoring centre"."""
    return f"{action.operator} at the monitoring centre"


class Downlink:
    """Carries out operator actions for one hub."""

    def __init__(  # the seams it acts through
        self,
        store: ActionStore,
        desk: Desk,
        control: Control,
        *,
        hub_id: str,
        key: bytes,
        rejects: RejectLog,
        clock: Callable[[], datetime],
        reported: Callable[[], None],
        relay: "VoiceRelay | None" = None,
    ) -> None:
        self._store = store
        self._desk = desk
        self._control = control
        self._hub_id = hub_id
        self._key = key
        self._rejects = rejects
        self._clock = clock
        self._reported = reported
        self._relay = relay
        self.applied = 0
        self.refused = 0

    async def take(self, message: Message) -> None:
        """Check one message, carry it out unless already done, then acknowledge it."""
        found = self._genuine(message.data)
        if found is None:
            self.refused += 1
            await message.term()  # never to be delivered again
            return
        if isinstance(found, RelayedVoice):
            if await self._store.centre_action(found.relay_id) is None:
                await self._hear(found)
        elif await self._store.centre_action(found.action_id) is None:
            applied, detail = await self._apply(found)
            await self._remember(found, applied=applied, detail=detail)
        await message.ack()

    def _genuine(self, data: bytes) -> DownlinkMessage | None:
        """The message, if it is well formed, for this hub, and signed with its key."""
        subject = downlink_subject(self._hub_id)
        try:
            found = DOWNLINK.validate_json(data)
        except ValidationError as err:
            self._rejects.reject("centre_malformed", subject, str(err.errors()[0]["msg"])[:120])
            return None
        if found.hub_id != self._hub_id or not verified(found, self._key):
            name = found.relay_id if isinstance(found, RelayedVoice) else found.action_id
            detail = f"{name}: bad signature or another hub's"
            self._rejects.reject("centre_forged", subject, detail)
            return None
        return found

    async def _hear(self, relayed: RelayedVoice) -> None:
        """A key press relayed by the centre: acted on only if Twilio made it, for this hub."""
        refused: str | None
        if self._relay is None:
            accepted, say, refused = False, NOT_ACKNOWLEDGED, "relay_not_configured"
        else:
            heard = await self._relay.hear(relayed.url, relayed.form, relayed.twilio_signature)
            accepted, say, refused = heard.accepted, heard.say, heard.refused
        if refused is not None:
            self.refused += 1
            subject = downlink_subject(self._hub_id)
            self._rejects.reject(refused, subject, f"relayed key press {relayed.relay_id}")
        at = self._clock()
        report = ActionApplied(
            action_id=relayed.relay_id, incident_id="", applied=accepted, detail=say[:200], at=at
        )
        record = CentreActionRecord(relayed.relay_id, "", accepted, refused or "")
        await self._store.record_centre_action(
            record, action=RELAY_ACTION, operator=RELAY_BY, report=report.model_dump_json(), at=at
        )
        self._reported()

    async def _apply(self, action: OperatorAction) -> tuple[bool, str]:
        by = operator_name(action)
        if action.action == "accept":
            ack = Acknowledgement(
                incident_id=action.incident_id, contact=by, channel="centre", at=self._clock()
            )
            done = await self._desk.acknowledge(ack)
        else:
            note = action.note or None
            done = await self._control.resolve(action.incident_id, by, note=note, via=CENTRE_VIA)
        if done:
            log.info("%s %s incident %s", by, f"{action.action}ed", action.incident_id)
            return True, ""
        return await self._why_not(action, by)

    async def _why_not(self, action: OperatorAction, by: str) -> tuple[bool, str]:
        """Why an action changed nothing; or that it was carried out before (a redelivery)."""
        incident = await self._store.incident(action.incident_id)
        if incident is None:
            return False, "no such incident in this home"
        if action.action == "accept":
            return _why_not_accepted(incident, by)
        if incident.state in OPEN_STATES:
            return False, f"the incident is {incident.state}"
        trail = await self._store.incident_log(action.incident_id)
        if trail and by in str(trail[-1]["reason"]):
            return True, "already resolved"
        return False, f"the incident is already {incident.state}"

    async def _remember(self, action: OperatorAction, *, applied: bool, detail: str) -> None:
        at = self._clock()
        report = ActionApplied(
            action_id=action.action_id,
            incident_id=action.incident_id,
            applied=applied,
            detail=detail[:200],
            at=at,
        )
        record = CentreActionRecord(action.action_id, action.incident_id, applied, detail)
        await self._store.record_centre_action(
            record,
            action=action.action,
            operator=action.operator,
            report=report.model_dump_json(),
            at=at,
        )
        if applied:
            self.applied += 1
        else:
            log.warning("centre action %s not applied: %s", action.action_id, detail)
        self._reported()


def _why_not_accepted(incident: Incident, by: str) -> tuple[bool, str]:
    if incident.state != "acknowledged":
        return False, f"the incident is {incident.state}"
    if incident.acknowledged_by == by:
        return True, "already accepted"
    return False, f"already accepted by {incident.acknowledged_by}"
