"""What a configuration promises about phones: UK sender rules, WhatsApp's window, silent mode.

Pure reading of the configuration, for `telecare config check` (warnings: the file is valid, but
some alarms would not get through as written) and `telecare doctor` (which of each contact's
paths can ring a phone that is silenced). docs/PHONES.md explains the phone settings.
"""

from hub.config.file import HubConfig
from notifier.failover import NOTICE_CHANNEL, routes_for
from notifier.settings import TwilioSettings, is_alphanumeric_sender
from rules.policy import Contact

UK = "+44"
NEXT_PATH_TARGET_S = 30.0  # a failed alarm delivery is noticed, and the next path tried, by then
TWILIO_PATHS = ("sms", "whatsapp", "voice")
# What each path can do against silent mode and Do Not Disturb (docs/PHONES.md).
SILENCED: dict[str, str] = {
    "pushover": "pushover: yes (emergency priority; iOS critical alerts once allowed in the app)",
    "voice": "voice: depends on the phone's settings (the hub's number let through Focus / DND)",
    "ntfy": "ntfy: Android only, with the topic set to override Do Not Disturb; never on iOS",
    "sms": "sms: no",
    "whatsapp": "whatsapp: no",
    "apprise": "apprise: depends on the service",
}


def sender_warnings(config: HubConfig) -> list[str]:
    """Warnings about senders that cannot take carers' replies or reach them as configured."""
    twilio = config.twilio
    if twilio is None:
        return []
    warnings = _sms_sender_warnings(config, twilio) + _key_press_warnings(config, twilio)
    steps = _steps_on(config, "whatsapp")
    if steps:
        warnings.append(
            f"{', '.join(steps)}: WhatsApp delivers the hub's free-form messages only within 24"
            " hours of the contact's last message to it; outside that window it needs an"
            " approved template, which the hub does not send, so such an alarm fails and moves"
            " to the next channel: prefer sms or voice for alarms"
        )
    return warnings


def failover_warnings(config: HubConfig) -> list[str]:
    """Warnings about alarm paths whose failure is noticed later than `NEXT_PATH_TARGET_S`."""
    paths = _alarm_paths(config)
    twilio, pushover = config.twilio, config.pushover
    warnings = []
    on_twilio = [name for name, used in paths.items() if used & set(TWILIO_PATHS)]
    if (
        twilio is not None
        and twilio.public_url is None
        and twilio.poll_s > NEXT_PATH_TARGET_S
        and on_twilio
    ):
        warnings.append(
            f"twilio.poll_s: {twilio.poll_s:g} s between polls, and no public_url for"
            f" Twilio's status callbacks: an SMS, WhatsApp message or call to"
            f" {', '.join(on_twilio)} that fails is found up to {twilio.poll_s:g} s later,"
            " and only then does the alarm move to the next path; keep it at"
            f" {NEXT_PATH_TARGET_S:g} s or less"
        )
    on_pushover = [name for name, used in paths.items() if "pushover" in used]
    if pushover is not None and on_pushover:
        noticed = pushover.delivery_window_s + pushover.poll_s
        if noticed > NEXT_PATH_TARGET_S:
            warnings.append(
                f"pushover.delivery_window_s: an emergency to {', '.join(on_pushover)} that no"
                f" phone receives is given up after {pushover.delivery_window_s:g} s (read every"
                f" {pushover.poll_s:g} s), so the alarm moves to the next path up to"
                f" {noticed:g} s after it was sent; keep the two within {NEXT_PATH_TARGET_S:g} s"
            )
    return warnings


def _alarm_paths(config: HubConfig) -> dict[str, set[str]]:
    """Each contact's channels that alarm steps use, as a step or by failover, in name order."""
    contacts = {c.name: c for c in config.contacts}
    routes = routes_for(contacts, configured_channels(config), set(config.apprise.urls))
    paths: dict[str, set[str]] = {}
    for severity, plan in config.escalation.items():
        if severity == "info":  # information is not re-routed
            continue
        for step in plan.steps:
            used = paths.setdefault(step.contact, set())
            used.add(step.channel)
            if step.channel != NOTICE_CHANNEL:  # the hub's own outbox never fails
                used.update(routes[step.contact])
    return dict(sorted(paths.items()))


def _sms_sender_warnings(config: HubConfig, twilio: TwilioSettings) -> list[str]:
    sender = twilio.sms_sender
    key = "twilio.sms_from" if twilio.sms_from is not None else "twilio.from_number"
    if is_alphanumeric_sender(sender):
        # Alarms (not info) ask for "Reply OK": the reply to a sender ID goes nowhere.
        steps = _steps_on(config, "sms", replies=True) + _failing_over_to(config, "sms")
        if not steps:
            return []
        return [
            f"{key}: {sender!r} is an alphanumeric sender ID, which nobody can reply to, but"
            f' {", ".join(steps)} send alarms by SMS that ask for "Reply OK": those replies'
            " never reach the hub (UK networks also block replies to international long"
            " codes): send alarms from a UK (+44) number, keep the sender ID for info"
        ]
    uk_contacts = [c.name for c in config.contacts if c.phone and c.phone.startswith(UK)]
    if uk_contacts and not sender.startswith(UK):
        return [
            f"{key}: {sender} is an international (non-UK) long code;"
            " UK networks have blocked SMS from those since July 2024, so"
            f" {', '.join(uk_contacts)} may never get the alarm or be able to reply OK:"
            " use a UK (+44) number (an alphanumeric sender ID cannot take replies either)"
        ]
    return []


def _key_press_warnings(config: HubConfig, twilio: TwilioSettings) -> list[str]:
    """A call's "press 1" needs a way back to the hub: its own public URL or the centre's relay."""
    relayed = config.centre is not None and config.centre.relay_url is not None
    steps = _steps_on(config, "voice")
    if not steps or twilio.public_url is not None or relayed:
        return []
    return [
        f"{', '.join(steps)}: the call rings and says the alarm, but nothing can bring the"
        ' carer\'s "press 1" back to the hub: set [twilio] public_url (a tunnel or proxy to the'
        " hub's web port) or [centre] relay_url (the monitoring centre's console); until then"
        " a carer accepts by SMS reply, ntfy or Pushover only"
    ]


def _steps_on(config: HubConfig, channel: str, *, replies: bool = False) -> list[str]:
    """The escalation steps on `channel` (only alarms that ask for a reply, if `replies`)."""
    return [
        f"escalation.{severity}.steps[{index}]"
        for severity, plan in config.escalation.items()
        for index, step in enumerate(plan.steps)
        if step.channel == channel and not (replies and severity == "info")
    ]


def _failing_over_to(config: HubConfig, channel: str) -> list[str]:
    """The alarm steps on another channel whose alert moves on to `channel` when that fails.

    A failed alarm moves through every one of its contact's other paths in turn (ntfy down, a
    Pushover emergency no phone received, ...); only the hub's own outbox never fails.
    """
    contacts = {c.name: c for c in config.contacts}
    routes = routes_for(contacts, configured_channels(config), set(config.apprise.urls))
    return [
        f"escalation.{severity}.steps[{index}] (when its channel fails)"
        for severity, plan in config.escalation.items()
        if severity != "info"  # information is not re-routed
        for index, step in enumerate(plan.steps)
        if step.channel not in {channel, NOTICE_CHANNEL} and channel in routes[step.contact]
    ]


def configured_channels(config: HubConfig) -> set[str]:
    """The channels the configuration sets up (the hub's outbox always)."""
    channels: set[str] = {NOTICE_CHANNEL}
    if config.twilio is not None:
        channels |= {"voice", "sms", "whatsapp"}
    channels |= {n for n, s in (("ntfy", config.ntfy), ("pushover", config.pushover)) if s}
    return channels | ({"apprise"} if config.apprise.urls else set())


def silenced_paths(config: HubConfig, channels: set[str]) -> list[str]:
    """Per contact, which of her configured paths can ring a silenced phone."""
    return [
        f"{contact.name}: {'; '.join(_paths(contact, channels))}" for contact in config.contacts
    ]


def _paths(contact: Contact, channels: set[str]) -> list[str]:
    usable = {
        "pushover": contact.pushover_user is not None,
        "voice": contact.phone is not None,
        "ntfy": contact.ntfy_topic is not None,
        "sms": contact.phone is not None,
        "whatsapp": contact.phone is not None,
    }
    found = [SILENCED[c] for c, ok in usable.items() if ok and c in channels]
    return found or ["no phone path configured"]
