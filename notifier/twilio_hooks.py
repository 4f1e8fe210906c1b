"""What Twilio's web hooks do, once the web layer has read a request: free of any web framework.

Served only when `[twilio] public_url` says where Twilio can reach the hub. Every request must
carry Twilio's signature over the configured public URL (never the Host header a reverse proxy
or tunnel passes on), the path and the form, made with the account's auth token.
- voice: the key pressed on an alert's call. 1 acknowledges the incident for the contact the
  call went to; which call, and so which incident and contact, is named by the hub's own token in
  the hook's URL, not by anything the caller can choose. Any other key, or none, is not an
  acknowledgement: the ladder goes on.
- sms: a message to the hub's number, handled as a polled one would be (only contacts obeyed,
  answers sent as messages); the hook itself always answers with empty TwiML.
- status: a message's or call's fate, for delivery tracking (undelivered fails over).
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from notifier.acks import NOT_ACKNOWLEDGED
from notifier.channels.twilio_gateway import SentMessage
from notifier.channels.twiml import (
    callback_verdict,
    hook_url,
    silent_reply,
    voice_reply,
    webhook_signed,
)
from notifier.inbox import Inbox
from notifier.model import TransientError
from notifier.settings import TwilioSettings
from notifier.tracking import StatusTracker

log = logging.getLogger("telecare.notify.hooks")
ACK_DIGIT = "1"
ALREADY_ANSWERED = "Thank you. This alarm has already been answered or has ended. Goodbye."


@dataclass(frozen=True, slots=True)
class KeyPress:
    """What came of the key pressed (or none) on an alert's call.

    Attributes:
        accepted: The press accepted the incident for the contact the call went to.
        say: What the caller is told.
    """

    accepted: bool
    say: str


async def hear_press(
    inbox: Inbox, token: str | None, form: Mapping[str, str], *, person: str
) -> KeyPress:
    """Act on a key press whose request is known to come from Twilio.

    Only 1, with a token the hub issued for the call, accepts: any other key, none
    (voicemail, a plain answer) or a forged token leaves the alarm with the others.
    """
    digits = form.get("Digits", "")
    if digits != ACK_DIGIT or token is None:
        log.info("call %s ended without an acknowledgement", form.get("CallSid", "?"))
        return KeyPress(accepted=False, say=NOT_ACKNOWLEDGED)
    outcome = await inbox.accept_token(token, channel="voice")
    if outcome == "acknowledged":
        return KeyPress(accepted=True, say=f"Thank you. {person} will be told you are on your way.")
    if outcome == "not open":
        return KeyPress(accepted=False, say=ALREADY_ANSWERED)
    return KeyPress(accepted=False, say=NOT_ACKNOWLEDGED)


class TwilioHooks:
    """The three hooks of one Twilio account, acting through the inbox and delivery tracking."""

    def __init__(
        self,
        settings: TwilioSettings,
        public_url: str,
        inbox: Inbox,
        tracker: StatusTracker,
        *,
        person: str,
    ) -> None:
        self._settings = settings
        self._public_url = public_url
        self._inbox = inbox
        self._tracker = tracker
        self._person = person

    def signed(self, path: str, query: str, form: Mapping[str, str], signature: str | None) -> bool:
        """Whether Twilio signed this request to `path` (with its raw `query`, if any)."""
        url = hook_url(self._public_url, path) + (f"?{query}" if query else "")
        return webhook_signed(self._settings, url, form, signature)

    async def voice(self, token: str | None, form: Mapping[str, str]) -> str:
        """The TwiML that answers a key press (or none) on an alert's call."""
        press = await hear_press(self._inbox, token, form, person=self._person)
        return voice_reply(press.say)

    async def sms(self, form: Mapping[str, str]) -> str:
        """Act on a message to the hub's number; the TwiML is always empty."""
        message = SentMessage(
            sid=form.get("MessageSid") or form.get("SmsSid", ""),
            to=form.get("To", ""),
            sender=form.get("From", ""),
            body=form.get("Body", ""),
            status="received",
            direction="inbound",
            created_at=datetime.now(UTC),
        )
        if not message.sid:
            log.warning("ignored a signed message hook without a MessageSid")
            return silent_reply()
        try:
            await self._inbox.hear_sms(message)
        except TransientError as err:  # acted on; only the answer is lost
            log.warning("could not send the answer to a reply: %s", err.detail)
        return silent_reply()

    async def status(self, form: Mapping[str, str]) -> None:
        """Record a message's or call's fate; an undelivered alert moves to the next channel."""
        verdict = callback_verdict(form)
        if verdict is not None and not await self._tracker.report(verdict):
            log.debug("status of %s: no alert awaits it", verdict.ref)
