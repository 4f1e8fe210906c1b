"""What Twilio is given to say, and how its answers are read: bodies, TwiML, callbacks, signatures.

Message bodies, the call's TwiML (with the key press it asks for), the hooks' addresses, the
check of Twilio's signature on a hook request, and a status callback's verdict. No requests are
made here (see `twilio_gateway`); the SDK's TwiML builders and request validator are used.
"""

from collections.abc import Mapping
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from notifier.model import Delivery, OutboxEntry
from notifier.settings import TwilioSettings

ACK_HINT = "Reply OK if you are dealing with it."
VOICE_ACK_PROMPT = "Press 1 to say you are on your way."
FAILED_STATUSES = frozenset({"undelivered", "failed", "canceled"})
# A call that nobody picked up did not reach the carer: its alert moves on like an undelivered SMS.
# One that was answered (by her, or by her voicemail) is delivered, and never an acceptance:
# only the key she presses is.
FAILED_CALL_STATUSES = frozenset({"busy", "no-answer", "failed", "canceled"})
HOOKS_PATH = "/hooks/twilio"
VOICE_HOOK = f"{HOOKS_PATH}/voice"
SMS_HOOK = f"{HOOKS_PATH}/sms"
STATUS_HOOK = f"{HOOKS_PATH}/status"
ENTRY_PARAM = "entry"


def webhook_signed(
    settings: TwilioSettings, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    """Whether a web hook request really comes from Twilio (its `X-Twilio-Signature`).

    Args:
        settings: The account whose auth token signs the requests.
        url: The full URL Twilio requested, as configured under `public_url`.
        params: The form fields of the POST.
        signature: The X-Twilio-Signature header; None when the request had none.
    """
    if not signature:
        return False
    validator = RequestValidator(settings.auth_token.get_secret_value())
    return bool(validator.validate(url, dict(params), signature))


def message_body(entry: OutboxEntry) -> str:
    """What an SMS or WhatsApp message says: the alert, and how to acknowledge it."""
    if entry.severity == "info":
        return entry.text
    return f"{entry.text} {ACK_HINT}"


def hook_url(public_url: str, path: str) -> str:
    """The address Twilio is given for one of the hub's hooks, under the configured public URL."""
    return public_url.rstrip("/") + path


def voice_twiml(entry: OutboxEntry, hook: str | None, token: str | None = None) -> str:
    """The call: say the alert twice, then ask for 1 (heard by the hook when one is reachable).

    The key press is posted to `hook` (the hub's own voice hook, or the centre's relay route
    for it) with `token` (the hub's signature over this outbox entry) in the URL, which
    Twilio's own signature then covers: the hub learns which alert, and so which incident and
    contact, the call was about from its own token, not from anything the caller can choose.
    """
    response = VoiceResponse()
    action = None
    if hook is not None and token is not None:
        action = f"{hook}?{urlencode({ENTRY_PARAM: token})}"
    gather = response.gather(num_digits=1, timeout=10, action=action, method="POST")
    gather.say(f"This is the telecare hub. {entry.text}", language="en-GB")
    gather.say(VOICE_ACK_PROMPT, language="en-GB")
    response.say(f"Again: {entry.text}", language="en-GB")
    return str(response)


def voice_reply(text: str) -> str:
    """What the caller hears after pressing a key: `text`, then the call ends."""
    response = VoiceResponse()
    response.say(text, language="en-GB")
    response.hangup()
    return str(response)


def silent_reply() -> str:
    """An empty answer to an inbound message: Twilio sends nothing back."""
    return str(MessagingResponse())


def message_verdict(sid: str, status: str, why: str) -> Delivery | None:
    """A message's fate from its status: delivered, failed (`why` says how), None in transit."""
    if status in FAILED_STATUSES:
        return Delivery("failed", f"Twilio: {status}: {why}", ref=sid)
    return Delivery("delivered", ref=sid) if status in {"delivered", "read"} else None


def call_verdict(sid: str, status: str) -> Delivery | None:
    """A call's fate from its status: answered (never an acceptance), failed, None while on."""
    if status in FAILED_CALL_STATUSES:
        return Delivery("failed", f"Twilio: call {status}", ref=sid)
    return Delivery("delivered", "call answered", ref=sid) if status == "completed" else None


def callback_verdict(form: Mapping[str, str]) -> Delivery | None:
    """A status callback's news about a message or call (its sid as `ref`); None in transit."""
    if sid := form.get("MessageSid"):
        why = f"error {form.get('ErrorCode') or 'not given'}"
        return message_verdict(sid, form.get("MessageStatus", ""), why)
    if sid := form.get("CallSid"):
        return call_verdict(sid, form.get("CallStatus", ""))
    return None
