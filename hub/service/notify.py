"""The notifier of a running hub, built from its configuration.

Channels, the dispatcher, delivery tracking and the acknowledgement inbox are entered and left
together. With `[twilio] public_url` set, Twilio's web hooks (`twilio_hooks`, served by the web
app) hear key presses, replies and delivery reports; inbound SMS are then no longer polled.
Without it, but with `[centre] relay_url`, a call's key press reaches the hub through the
centre (`voice_relay`, fed by the downlink).
"""

import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self
from zoneinfo import ZoneInfo

from hub.config.file import HubConfig
from hub.pipeline.desk import CarerControl, HubDesk, Publish
from hub.store.backlog import Backlog
from hub.store.store import Store
from notifier.acks import AckTokens
from notifier.budget import Budget, Budgets
from notifier.channels.ntfy import AckBody, NtfyChannel
from notifier.channels.outbox import LocalOutbox
from notifier.channels.pushover import PushoverChannel
from notifier.dispatcher import Dispatcher
from notifier.failover import Failover, routes_for
from notifier.inbox import Inbox
from notifier.model import OutboxEntry
from notifier.ports import Channel
from notifier.retrying import RetryPolicy
from notifier.settings import TwilioSettings
from notifier.tracking import StatusChannel, StatusTracker
from rules.policy import Contact

if TYPE_CHECKING:  # channel SDKs (Twilio, Apprise) are loaded only when configured
    from notifier.channels.twilio import TwilioGateway
    from notifier.twilio_hooks import TwilioHooks
    from notifier.voice_relay import VoiceRelay

log = logging.getLogger("telecare.hub")


def budgets_for(twilio: TwilioSettings) -> list[Budget]:
    """SMS and WhatsApp share the message budget; calls have their own."""
    return [
        Budget("messages", ("sms", "whatsapp"), twilio.sms_per_hour, twilio.sms_per_day),
        Budget("calls", ("voice",), twilio.calls_per_hour, twilio.calls_per_day),
    ]


@dataclass(frozen=True, slots=True)
class OpenChannels:
    """The configured channels, and the clients behind them that other parts also use."""

    channels: dict[str, Channel]
    gateway: "TwilioGateway | None"
    ntfy: NtfyChannel | None


def relay_hook(config: HubConfig) -> str | None:
    """The centre's route for a call's key press, when Twilio cannot reach the hub itself."""
    twilio, centre = config.twilio, config.centre
    if twilio is None or twilio.public_url is not None or centre is None:
        return None  # with a public URL, calls post to the hub's own hook
    return centre.relay_hook()


def open_channels(
    config: HubConfig, stack: AsyncExitStack, *, ack_body: AckBody | None
) -> OpenChannels:
    """Build every configured channel; `stack` closes their clients."""
    contacts = {c.name: c for c in config.contacts}
    channels: dict[str, Channel] = {"outbox": LocalOutbox()}
    gateway = ntfy = None
    if config.twilio is not None:
        hook = relay_hook(config)
        gateway = _twilio_channels(config.twilio, stack, contacts, channels, ack_body, hook)
    if config.ntfy is not None:
        ntfy = NtfyChannel(config.ntfy, contacts, ack_body=ack_body)
        stack.push_async_callback(ntfy.close)
        channels["ntfy"] = ntfy
    if config.pushover is not None:
        push = PushoverChannel(config.pushover, contacts, dashboard_url=_dashboard(config))
        stack.push_async_callback(push.close)
        channels["pushover"] = push
    if config.apprise.urls:
        # Apprise and its plugins cost some 12 MB of memory: loaded only when configured.
        from notifier.channels.apprise import AppriseChannel  # noqa: PLC0415

        channels["apprise"] = AppriseChannel(config.apprise)
    return OpenChannels(channels, gateway, ntfy)


def _twilio_channels(  # noqa: PLR0917 - the parts open_channels has built so far
    settings: TwilioSettings,
    stack: AsyncExitStack,
    contacts: dict[str, Contact],
    channels: dict[str, Channel],
    ack_body: AckBody | None,
    hook: str | None,
) -> "TwilioGateway":
    """SMS, WhatsApp and voice on one gateway, added to `channels`; returns the gateway."""
    # The Twilio SDK (with requests and aiohttp) costs some 18 MB: loaded only when configured.
    from notifier.channels.twilio import TwilioChannel, TwilioGateway, TwilioKind  # noqa: PLC0415

    gateway = TwilioGateway(settings)
    stack.push_async_callback(gateway.close)
    kinds: tuple[TwilioKind, ...] = ("sms", "whatsapp", "voice")
    for kind in kinds:
        channels[kind] = TwilioChannel(kind, gateway, contacts, ack_token=ack_body, voice_hook=hook)
    return gateway


def _dashboard(config: HubConfig) -> str | None:
    return None if config.ntfy is None else config.ntfy.dashboard_url


def unreachable_steps(config: HubConfig, channels: set[str]) -> list[str]:
    """Escalation steps that cannot be carried out as configured (they will fail over)."""
    contacts = {c.name: c for c in config.contacts}
    routes = routes_for(contacts, channels, set(config.apprise.urls))
    problems: list[str] = []
    for severity, plan in config.escalation.items():
        for index, step in enumerate(plan.steps):
            if step.channel not in routes.get(step.contact, ()):
                why = "is not configured" if step.channel not in channels else "has no address"
                problems.append(
                    f"escalation.{severity}.steps[{index}]: {step.channel} for {step.contact}"
                    f" {why}; the alert will fail over"
                )
    return problems


class Notifier:
    """Everything that reaches carers and hears back from them.

    Its outbox records (deliveries, replies, provider reports) go through `outbox`, the hub's
    backlog, so they are held in memory while the disk refuses writes.
    """

    def __init__(
        self,
        config: HubConfig,
        store: Store,
        *,
        publish: Publish,
        clock: Callable[[], datetime],
        outbox: Backlog | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._outbox = outbox or Backlog(store)
        self._publish = publish
        self._clock = clock
        self._stack = AsyncExitStack()
        self.channels: dict[str, Channel] = {"outbox": LocalOutbox()}
        self.inbox: Inbox | None = None
        self.twilio_hooks: TwilioHooks | None = None
        self.voice_relay: VoiceRelay | None = None
        self._tracker: StatusTracker | None = None
        self._dispatcher: Dispatcher | None = None
        self._desk: HubDesk | None = None

    def bind(self, control: CarerControl) -> None:
        """The pipeline that carries out carers' replies (acknowledgements, HOME/AWAY)."""
        assert self._desk is not None, "enter the Notifier first"
        self._desk.bind(control)

    @property
    def dispatcher(self) -> Dispatcher:
        """The running dispatcher (only while entered)."""
        assert self._dispatcher is not None, "enter the Notifier first"
        return self._dispatcher

    async def __aenter__(self) -> Self:
        contacts = {c.name: c for c in self._config.contacts}
        tokens = AckTokens(await self._store.ack_key())
        opened = open_channels(self._config, self._stack, ack_body=tokens.token)
        self.channels = opened.channels
        gateway, ntfy = opened.gateway, opened.ntfy
        zone = ZoneInfo(self._config.home.timezone)
        # Before delivery starts: an alarm resumed at start may fail on its last path at once.
        self._desk = HubDesk(self._store, self._publish, zone=zone, clock=self._clock)
        await self._start_delivery(contacts, gateway, self._desk)
        await self._start_inbox(contacts, tokens, gateway, ntfy)
        await self._start_receipts()
        self.twilio_hooks = self._hooks()
        self.voice_relay = self._relay()
        log.info("notifier channels: %s", ", ".join(sorted(self.channels)))
        for problem in unreachable_steps(self._config, set(self.channels)):
            log.warning("%s", problem)
        return self

    async def _start_delivery(
        self, contacts: dict[str, Contact], gateway: "TwilioGateway | None", desk: HubDesk
    ) -> None:
        config = self._config
        routes = routes_for(contacts, set(self.channels), set(config.apprise.urls))
        budgets = None
        if config.twilio is not None:
            budgets = Budgets(self._store, budgets_for(config.twilio))
        delivery = config.delivery
        retry = RetryPolicy(
            attempts=delivery.attempts,
            timeout_s=delivery.timeout_s,
            emergency_timeout_s=delivery.emergency_timeout_s,
            wait_initial_s=delivery.wait_initial_s,
            wait_max_s=delivery.wait_max_s,
            wait_jitter_s=delivery.wait_jitter_s,
        )
        dispatcher = Dispatcher(
            self._outbox,
            self.channels,
            retry=retry,
            failover=Failover(routes),
            budgets=budgets,
            resend_every_s=delivery.resend_every_s,
            unreached=lambda entry, _delivery: desk.unreached(entry),
        )
        self._dispatcher = await self._stack.enter_async_context(dispatcher)
        if gateway is not None:
            from notifier.channels.twilio import TwilioChannel, TwilioKind  # noqa: PLC0415

            kinds: tuple[TwilioKind, ...] = ("sms", "whatsapp", "voice")  # calls polled too
            tracked: dict[str, StatusChannel] = {
                k: TwilioChannel(k, gateway, contacts) for k in kinds
            }
            tracker = StatusTracker(
                self._outbox, tracked, dispatcher.fail_over, poll_s=gateway.settings.poll_s
            )
            self._tracker = await self._stack.enter_async_context(tracker)

    async def _start_inbox(
        self,
        contacts: dict[str, Contact],
        tokens: AckTokens,
        gateway: "TwilioGateway | None",
        ntfy: NtfyChannel | None,
    ) -> None:
        desk = self._desk
        assert desk is not None  # made before delivery started
        ack_topic = None if self._config.ntfy is None else self._config.ntfy.ack_topic
        listen = None if ntfy is None or ack_topic is None else (ntfy, ack_topic)
        webhooks = gateway is not None and gateway.settings.public_url is not None
        self.inbox = Inbox(
            desk, self._outbox, tokens, contacts, ntfy=listen, twilio=gateway, webhooks=webhooks
        )
        await self._stack.enter_async_context(self.inbox)

    async def _start_receipts(self) -> None:
        """Pushover emergencies' receipts: acceptance, no phone reached, or no longer wanted."""
        push = self.channels.get("pushover")
        if not isinstance(push, PushoverChannel) or self.inbox is None:
            return
        inbox, store = self.inbox, self._store

        async def accept(entry: OutboxEntry, contact: str) -> None:
            await inbox.accept_delivery(entry, contact, channel="pushover")

        async def wanted(entry: OutboxEntry) -> bool:
            incident = await store.incident(entry.incident_id)
            return incident is not None and incident.state == "firing"

        tracker = StatusTracker(
            self._outbox,
            {"pushover": push},
            self.dispatcher.fail_over,
            poll_s=push.settings.poll_s,
            accept=accept,
            wanted=wanted,
            name="notify-receipts",
        )
        await self._stack.enter_async_context(tracker)

    def _hooks(self) -> "TwilioHooks | None":
        """Twilio's web hooks, when Twilio can reach the hub."""
        settings = self._config.twilio
        if settings is None or settings.public_url is None:
            return None
        assert self.inbox is not None and self._tracker is not None  # built with Twilio
        from notifier.twilio_hooks import TwilioHooks  # noqa: PLC0415  # loads the Twilio SDK

        return TwilioHooks(
            settings,
            settings.public_url,
            self.inbox,
            self._tracker,
            person=self._config.home.person,
        )

    def _relay(self) -> "VoiceRelay | None":
        """Key presses relayed by the centre, when Twilio cannot reach the hub itself."""
        hook = relay_hook(self._config)
        if hook is None or self._config.twilio is None:
            return None
        assert self.inbox is not None  # built with Twilio
        from notifier.voice_relay import VoiceRelay  # noqa: PLC0415  # loads the Twilio SDK

        person = self._config.home.person
        return VoiceRelay(self._config.twilio, self.inbox, hook=hook, person=person)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()
