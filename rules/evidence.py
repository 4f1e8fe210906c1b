"""Whether an event may end an incident: evidence counts only from after what it would end.

After a broker outage the backlog arrives late and in any order. Movement from before a fall is
no sign that she got up; a sensor dry before the leak began says nothing about the leak. So each
event is placed on its own clock (`happened_at`) and compared with the incident it would close.
"""

from datetime import datetime, timedelta
from typing import Literal

from rules.incidents import Incident
from wire.event import DeviceEvent

Standing = Literal["before", "in_time", "after_window"]
# A stamp further back than this from its reception is a clock that was never set (a device
# that booted without time reads 1970), not a backlog: reception is all there is to go on.
BELIEVED_FOR = timedelta(days=1)


def happened_at(event: DeviceEvent) -> datetime:
    """When the event happened by its own account.

    That is the device's own stamp (`ts`) when it sent one, else the moment the hub received
    it; the same pair the hub already uses to tell one report from another. A stamp later than
    its reception is a device clock running fast, so reception bounds it: nothing is believed
    to have happened after the hub heard of it. A stamp more than `BELIEVED_FOR` earlier is a
    clock never set: reception stands in.
    """
    if event.ts is None or event.ts < event.received_at - BELIEVED_FOR:
        return event.received_at
    return min(event.ts, event.received_at)


def standing(incident: Incident, event: DeviceEvent) -> Standing:
    """Where `event` falls against the incident it would end: the one shared clearing rule.

    - "before": it happened before what opened the incident (the fall, the leak, the press,
      the dose falling due): it is old news and ends nothing.
    - "after_window": it happened once the incident's confirm window had ended, while the
      incident is still waiting (it arrived late): by then the carer would have been told, so
      the incident fires first and only then may the event close it, with its follow-up.
    - "in_time": anything else; it may end the incident as the cause's rule says.
    """
    own = happened_at(event)
    if own < (incident.happened_at or incident.opened_at):
        return "before"
    if (
        incident.state == "pending"
        and incident.confirm_by is not None
        and own >= incident.confirm_by
    ):
        return "after_window"
    return "in_time"
