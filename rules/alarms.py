"""What an event does to the declared causes: opens, hastens, cancels or clears their incidents.

The causes themselves (and each one's rule in care words) live in `rules.causes` and the modules
it gathers; this module applies them to one event at a time. Whether an event may end an
incident at all is decided once, for every cause, by `rules.evidence.standing`.
"""

from collections.abc import Mapping
from datetime import datetime, time, timedelta

from rules.causes import Verdict, verdict
from rules.evidence import happened_at
from rules.incidents import Incident, IncidentChanged
from rules.inhibition import Inhibitor
from rules.lifecycle import Facts, Lifecycle
from rules.policy import CausePolicy, Role, RulesConfig, Severity
from rules.settings import CarerSettings
from rules.state import Draft, EngineState
from rules.texts import Texts
from wire.event import DeviceEvent

Cause = tuple[str, CausePolicy]
MIDNIGHT = time(0, 0)


class Alarms:
    """Applies each event to the causes it concerns, bound to one home's configuration.

    Every cause is judged by when the event happened (its own stamp, see
    `rules.evidence.happened_at`), not when it arrived: a night exit is a door opened at night,
    and only evidence from after an alarm began can end it.
    """

    def __init__(
        self,
        config: RulesConfig,
        causes: Mapping[str, CausePolicy],
        *,
        texts: Texts,
        life: Lifecycle,
        inhibitor: Inhibitor,
        settings: CarerSettings,
    ) -> None:
        self._devices = config.devices
        self._texts = texts
        self._life = life
        self._inhibitor = inhibitor
        self._settings = settings
        self._by_type: dict[str, list[Cause]] = {}
        for name, policy in causes.items():
            kinds = policy.opened_by | policy.cancelled_by | policy.cleared_by
            for kind in kinds | policy.drops_pending:
                self._by_type.setdefault(kind, []).append((name, policy))
        self._timed = {
            kind
            for policy in causes.values()
            if policy.only_in is not None or policy.except_in is not None
            for kind in policy.opened_by
        }
        self._by_battery = [(n, p) for n, p in causes.items() if p.clears_above_battery]

    def candidates(self, event: DeviceEvent) -> list[Cause]:
        """The causes `event` may open, cancel or clear."""
        found = self._by_type.get(event.type, [])
        if event.battery is not None and self._by_battery:
            return [*found, *self._by_battery]
        return found

    def relevant(self, state: EngineState, event: DeviceEvent, candidates: list[Cause]) -> bool:
        """Whether any candidate cause has an incident to act on, or would open one."""
        role, local = self._context(event)
        for name, policy in candidates:
            slot = f"{name}@{event.device_id}" if policy.per_device else name
            if slot in state.open:
                return True
            if event.type in policy.opened_by and verdict(policy, event, role, local) == "open":
                return True
        return False

    def apply(
        self, draft: Draft, event: DeviceEvent, candidates: list[Cause], now: datetime
    ) -> None:
        """Open, hasten or end each candidate cause's incident as `event` says."""
        role, local = self._context(event)
        for name, policy in candidates:
            slot = f"{name}@{event.device_id}" if policy.per_device else name
            current = draft.open.get(slot)
            found = verdict(policy, event, role, local)
            if found == "open" and current is not None:
                self._take_in(draft, slot, current, policy=policy, event=event, now=now)
            elif found == "open" and current is None:
                severity = (
                    policy.severity_for.get(role, policy.severity) if role else policy.severity
                )
                self._open(draft, name, slot, policy, severity, event=event, now=now)
            elif current is not None and found in {"cancel", "clear", "drop"}:
                self._end(draft, slot, policy, found, event=event, now=now)

    def _context(self, event: DeviceEvent) -> tuple[Role | None, time]:
        """The device's role, and the local time the event happened (for rules with hours)."""
        info = self._devices.get(event.device_id)
        role = info.role if info is not None else None
        if event.type not in self._timed:
            return role, MIDNIGHT  # worked out only for rules with hours (night exits)
        return role, happened_at(event).astimezone(self._texts.zone).time()

    def _open(
        self,
        draft: Draft,
        name: str,
        slot: str,
        policy: CausePolicy,
        severity: Severity,
        *,
        event: DeviceEvent,
        now: datetime,
    ) -> None:
        """Open the cause's incident: suppressed if something holds it back, noted if one-shot."""
        common: Facts = {
            "cause": name,
            "severity": severity,
            "device_id": event.device_id,
            "text": self._texts.render(
                policy.alert,
                event.device_id,
                happened_at(event),  # when it happened, however late the news
                value=event.value,
                baseline=event.baseline,
            ),
            "now": now,
        }
        held = self._inhibitor.holds(draft, name) or self._settings.holds(
            draft.base, event.device_id, severity, now
        )
        reason = f"{event.type} from {event.device_id}"
        if held is not None:
            self._life.suppress(draft, reason=held, **common)
        elif policy.one_shot:
            self._life.note(draft, reason=reason, **common)
        else:
            window_s = policy.confirm_s_for.get(event.type, policy.confirm_s)
            self._life.open(
                draft,
                slot=slot,
                window_s=window_s,
                reason=reason,
                happened=happened_at(event),
                **common,
            )

    def _take_in(
        self,
        draft: Draft,
        slot: str,
        incident: Incident,
        *,
        policy: CausePolicy,
        event: DeviceEvent,
        now: datetime,
    ) -> None:
        """Another sign of the same cause while its incident is open (a second fall, say).

        It joins the open incident, and is remembered: if evidence from before it ends the
        incident (a backlog out of order), the cause opens again for it (see `_end`).
        """
        own = happened_at(event)
        if own > (incident.latest_sign_at or incident.happened_at or incident.opened_at):
            incident = incident.model_copy(update={"latest_sign_at": own})
            draft.put(slot, incident)
        if incident.state != "pending":
            return
        # A surer sign while pending (a definite fall after a possible one) ends the window
        # sooner; it never makes it longer.
        window = timedelta(seconds=policy.confirm_s_for.get(event.type, policy.confirm_s))
        if incident.due_at is None or now + window >= incident.due_at:
            return
        update: dict[str, object] = {"due_at": now + window}
        if incident.confirm_by is not None:
            update["confirm_by"] = min(incident.confirm_by, own + window)
        sooner = incident.model_copy(update=update)
        reason = f"{event.type} from {event.device_id}: window shortened"
        draft.actions.append(
            IncidentChanged(incident=sooner, previous=incident.state, reason=reason, at=now)
        )
        draft.put(slot, sooner)

    def _end(
        self,
        draft: Draft,
        slot: str,
        policy: CausePolicy,
        found: Verdict,
        *,
        event: DeviceEvent,
        now: datetime,
    ) -> None:
        """Cancel or clear the incident, or drop it while pending, if `event` counts against it.

        Evidence from before the incident began ends nothing; from after its confirm window it
        finds it fired (`Lifecycle.catch_up`). A sign the incident took in that happened after
        the evidence (a second fall after she got up from the first) opens the cause again:
        the evidence ended only what came before it.
        """
        own = happened_at(event)
        found_as = self._life.catch_up(draft, slot, event, now)
        if found_as is None:
            return
        if found == "drop" and found_as.state != "pending":
            return  # movement ends a fall only within its window
        how = "cancelled" if found == "cancel" else "cleared"
        if found == "cancel":
            template = "All OK: {person} cancelled the {label} at {time}."
        else:
            template = policy.clear_text
        self._life.close(
            draft,
            slot,
            how=how,
            reason=f"{how} by {event.type} from {event.device_id}",
            follow_up=self._texts.render(template, event.device_id, own, label=policy.label),
            now=now,
        )
        sign = found_as.latest_sign_at
        if sign is not None and sign > own:
            self._open_again(draft, slot, found_as, policy, sign, event=event, now=now)

    def _open_again(
        self,
        draft: Draft,
        slot: str,
        ended: Incident,
        policy: CausePolicy,
        sign: datetime,
        *,
        event: DeviceEvent,
        now: datetime,
    ) -> None:
        """Open the cause again for the later sign `ended` took in, with its own window."""
        self._life.open(
            draft,
            cause=ended.cause,
            slot=slot,
            severity=ended.severity,
            device_id=ended.device_id,
            text=self._texts.render(policy.alert, ended.device_id, sign),
            window_s=policy.confirm_s,
            reason=f"a later sign than {event.type} from {event.device_id} arrived earlier",
            happened=sign,
            now=now,
        )
