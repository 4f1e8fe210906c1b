"""A key press on an alert's call that reached the hub through the monitoring centre.

Behind NAT, Twilio cannot reach the hub: a call's `<Gather>` posts the key pressed to the
centre's public relay route, which passes the request on, untouched, over the downlink. The
hub acts on it exactly as on its own voice hook, and only once it has checked, itself, that
- the request went to this hub's relay route (the URL its own TwiML gave Twilio),
- Twilio signed it, over that URL and the form, with the account's auth token (which the
  centre does not hold), and
- the URL carries a token the hub issued for the call (checked by the inbox).
So a centre, or anyone on its network, can carry a carer's press but never make one.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from notifier.acks import NOT_ACKNOWLEDGED
from notifier.channels.twiml import ENTRY_PARAM, webhook_signed
from notifier.inbox import Inbox
from notifier.settings import TwilioSettings
from notifier.twilio_hooks import hear_press

RelayRefusal = Literal["relay_unsigned", "relay_bad_signature", "relay_wrong_url"]


@dataclass(frozen=True, slots=True)
class Relayed:
    """What came of a relayed press.

    Attributes:
        accepted: The press accepted the incident for the contact the call went to.
        say: What the caller is to be told.
        refused: Why the hub would not act on it at all (None: it was Twilio's own request).
    """

    accepted: bool
    say: str
    refused: RelayRefusal | None = None


def _refused(cause: RelayRefusal) -> Relayed:
    return Relayed(accepted=False, say=NOT_ACKNOWLEDGED, refused=cause)


class VoiceRelay:
    """Checks and acts on key presses relayed by the centre for this hub's calls."""

    def __init__(self, settings: TwilioSettings, inbox: Inbox, *, hook: str, person: str) -> None:
        self._settings = settings
        self._inbox = inbox
        self._hook = hook
        self._person = person

    async def hear(self, url: str, form: Mapping[str, str], signature: str) -> Relayed:
        """Act on one relayed request, if Twilio made it to this hub's relay route."""
        parts = urlsplit(url)
        if url.split("?", 1)[0] != self._hook or parts.fragment:
            return _refused("relay_wrong_url")
        if not signature:
            return _refused("relay_unsigned")
        if not webhook_signed(self._settings, url, form, signature):
            return _refused("relay_bad_signature")
        tokens = parse_qs(parts.query).get(ENTRY_PARAM, [])
        token = tokens[0] if len(tokens) == 1 else None
        press = await hear_press(self._inbox, token, form, person=self._person)
        return Relayed(accepted=press.accepted, say=press.say)
