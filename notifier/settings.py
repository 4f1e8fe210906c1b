"""The `[twilio]`, `[ntfy]` and `[apprise]` sections of the hub's configuration.

Secrets come from the environment in production: `TELECARE_TWILIO__AUTH_TOKEN`,
`TELECARE_NTFY__TOKEN`, `TELECARE_APPRISE__URLS` (a JSON object), so the TOML file can be shared
with an installer without giving away the accounts.
"""

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_HTTP_URL = r"^https?://[^\s/]+(/[^\s]*)?$"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TwilioSettings(_Section):
    """`[twilio]`: SMS, WhatsApp and voice calls through one Twilio account.

    Attributes:
        account_sid: The account (starts with AC).
        auth_token: Better given as TELECARE_TWILIO__AUTH_TOKEN.
        from_number: The hub's Twilio number for SMS and calls.
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
