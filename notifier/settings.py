"""The notifier's sections of the configuration: its channels, and `[delivery]`.

Secrets come from the environment in production: `TELECARE_TWILIO__AUTH_TOKEN`,
`TELECARE_NTFY__TOKEN`, `TELECARE_PUSHOVER__APP_TOKEN`, `TELECARE_APPRISE__URLS` (a JSON
object), so the TOML file can be shared with an installer without giving away the accounts.
"""

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Twilio's alphanumeric sender ID: 1 to 11 letters, digits and spaces, at least one letter.
_ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


def is_alphanumeric_sender(sender: str) -> bool:
    """Whether `sender` is an alphanumeric sender ID (which nobody can reply to)."""
    return bool(_ALPHANUMERIC.match(sender))


_HTTP_URL = r"^https?://[^\s/]+(/[^\s]*)?$"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TwilioSettings(_Section):
    """`[twilio]`: SMS, WhatsApp and voice calls through one Twilio account.

    Attributes:
        account_sid: The account (starts with AC).
        auth_token: Better given as TELECARE_TWILIO__AUTH_TOKEN.
        from_number: The hub's Twilio number for calls, and for SMS unless `sms_from` is set.
        sms_from: The SMS sender, if not `from_number`: another number, or an alphanumeric
            sender ID (`TELECARE`: 1-11 letters, digits and spaces, at least one letter),
            which Twilio allows for one-way SMS in the UK. Nobody can reply to one: `telecare
            config check` warns when an alarm's SMS asks for "Reply OK" from it.
        whatsapp_from: The WhatsApp sender, if WhatsApp is used (defaults to from_number).
        api_base: Twilio's REST API; tests point it at a local stand-in.
        public_url: Where Twilio can reach the hub's web hooks over a tunnel or reverse proxy,
            with any path the proxy adds (`https://carers.example.org/mums-hub`); Twilio's
            signatures are checked against it. Behind NAT with neither: none, and inbound SMS
            are polled instead, and a call's key press cannot be heard.
        timeout_s: Seconds one request may take before it counts as a transient failure.
        sms_per_hour, sms_per_day, calls_per_hour, calls_per_day: Budget per contact.
        poll_s: How often delivery status and (without public_url) inbound SMS are polled.
    """

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr
    from_number: str
    sms_from: str | None = None
    whatsapp_from: str | None = None
    api_base: str = Field(default="https://api.twilio.com", pattern=_HTTP_URL)
    public_url: str | None = Field(default=None, pattern=_HTTP_URL)
    timeout_s: float = Field(default=10.0, gt=0, le=60)
    sms_per_hour: int = Field(default=10, ge=1)
    sms_per_day: int = Field(default=40, ge=1)
    calls_per_hour: int = Field(default=4, ge=1)
    calls_per_day: int = Field(default=12, ge=1)
    poll_s: float = Field(default=15.0, ge=1, le=600)

    @field_validator("from_number", "whatsapp_from")
    @classmethod
    def _international(cls, value: str | None) -> str | None:
        if value is not None and not _E164.match(value):
            msg = f"{value!r} is not an international number such as +447700900123"
            raise ValueError(msg)
        return value

    @field_validator("sms_from")
    @classmethod
    def _number_or_sender_id(cls, value: str | None) -> str | None:
        if value is not None and not (_E164.match(value) or _ALPHANUMERIC.match(value)):
            msg = (
                f"{value!r} is neither an international number such as +447700900123 nor an"
                " alphanumeric sender ID (1-11 letters, digits and spaces, at least one letter)"
            )
            raise ValueError(msg)
        return value

    @property
    def sms_sender(self) -> str:
        """Who the hub's SMS come from."""
        return self.sms_from or self.from_number

    @model_validator(mode="after")
    def _budgets_consistent(self) -> "TwilioSettings":
        if self.sms_per_day < self.sms_per_hour or self.calls_per_day < self.calls_per_hour:
            msg = "a daily budget cannot be smaller than the hourly one"
            raise ValueError(msg)
        return self


class NtfySettings(_Section):
    """`[ntfy]`: push to the public ntfy app, from ntfy.sh or a self-hosted server.

    Attributes:
        server: The ntfy server.
        token: Access token (better: TELECARE_NTFY__TOKEN).
        ack_topic: The private topic the "I'm on it" button publishes to; the hub subscribes to
            it with an outbound connection, so nothing needs to reach the hub from outside.
        dashboard_url: Opened by the "Open dashboard" button, if the carer can reach it.
        home_phone: Dialled by the "Call home" button.
        timeout_s: Seconds one request may take before it counts as a transient failure.
    """

    server: str = Field(default="https://ntfy.sh", pattern=_HTTP_URL)
    token: SecretStr | None = None
    ack_topic: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{16,64}$")
    dashboard_url: str | None = Field(default=None, pattern=_HTTP_URL)
    home_phone: str | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=60)


class AppriseSettings(_Section):
    """`[apprise]`: any service Apprise knows, per contact.

    Attributes:
        urls: Apprise URLs by contact name (`tgram://...`, `pover://...`, `mailtos://...`).
            They hold credentials: better given as TELECARE_APPRISE__URLS='{"Alice": [...]}'.
    """

    urls: dict[str, tuple[SecretStr, ...]] = Field(default_factory=dict)


_PUSHOVER_TOKEN = re.compile(r"^[A-Za-z0-9]{30}$")
PUSHOVER_RETRY_MIN_S = 30  # Pushover refuses a shorter retry
PUSHOVER_EXPIRE_MAX_S = 10800  # and an emergency that repeats for longer than 3 hours


class PushoverSettings(_Section):
    """`[pushover]`: emergencies that ring until acknowledged, through the Pushover app.

    Each contact who uses it gives her own user key as `pushover_user` under `[[contacts]]`.

    Attributes:
        app_token: The application's API token (better: TELECARE_PUSHOVER__APP_TOKEN).
        api_base: Pushover's API; tests point it at a local stand-in.
        retry_s: How often an unacknowledged emergency rings again (at least 30 s).
        expire_s: How long it keeps ringing, unless acknowledged (at most 10800 s). By default
            half an hour: as long as an acknowledged alarm is given to be resolved.
        sound: The sound of an emergency (a Pushover sound name; `persistent` is its longest).
        delivery_window_s: An emergency no phone has received this long after it was sent has
            not got through: it is withdrawn and the alert moves to the contact's next channel.
        poll_s: How often receipts are read (Pushover asks for no more than once every 5 s).
        timeout_s: Seconds one request may take before it counts as a transient failure.
    """

    app_token: SecretStr
    api_base: str = Field(default="https://api.pushover.net", pattern=_HTTP_URL)
    retry_s: int = Field(default=60, ge=PUSHOVER_RETRY_MIN_S, le=PUSHOVER_EXPIRE_MAX_S)
    expire_s: int = Field(default=1800, ge=PUSHOVER_RETRY_MIN_S, le=PUSHOVER_EXPIRE_MAX_S)
    sound: str = Field(default="persistent", pattern=r"^[A-Za-z0-9_-]{1,40}$")
    delivery_window_s: float = Field(default=20.0, ge=5, le=600)
    poll_s: float = Field(default=5.0, ge=5, le=60)
    timeout_s: float = Field(default=10.0, gt=0, le=60)

    @field_validator("app_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not _PUSHOVER_TOKEN.match(value.get_secret_value()):
            # The token itself is not repeated: error messages end up in logs.
            msg = "is not a Pushover application token: 30 letters and digits"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _rings_more_than_once(self) -> "PushoverSettings":
        if self.expire_s < self.retry_s:
            msg = "expire_s is shorter than retry_s: the emergency would never ring again"
            raise ValueError(msg)
        return self


class DeliverySettings(_Section):
    """`[delivery]`: how long a channel is tried before an alert fails over, and after.

    An alarm that failed because its provider stopped answering is tried again every
    `resend_every_s`. The defaults suit a home.

    Attributes:
        attempts: Tries of one channel in all, the first included.
        emergency_timeout_s: How long an emergency keeps trying one channel before failing over.
        timeout_s: The same for every other notification.
        wait_initial_s: The first wait between tries; it doubles each time.
        wait_max_s: The longest wait between tries, also the cap on a provider's Retry-After.
        wait_jitter_s: Random extra wait, so that many hubs do not retry in step.
        resend_every_s: How often an alarm that failed because its provider did not answer is
            tried again, until the provider takes it or the incident is over.
    """

    attempts: int = Field(default=6, ge=1, le=20)
    emergency_timeout_s: float = Field(default=45.0, gt=0, le=300)
    timeout_s: float = Field(default=300.0, gt=0, le=3600)
    wait_initial_s: float = Field(default=0.5, gt=0, le=60)
    wait_max_s: float = Field(default=20.0, gt=0, le=300)
    wait_jitter_s: float = Field(default=1.0, ge=0, le=60)
    resend_every_s: float = Field(default=15.0, gt=0, le=600)

    @model_validator(mode="after")
    def _waits_consistent(self) -> "DeliverySettings":
        if self.wait_max_s < self.wait_initial_s:
            msg = "wait_max_s is shorter than wait_initial_s"
            raise ValueError(msg)
        return self
