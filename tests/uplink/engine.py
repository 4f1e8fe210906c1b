"""A single nats-server with JetStream and TLS on a free loopback port, set up as the centre's.

The centre's streams and this hub's durable downlink consumer are created as the centre creates
them; the hub's user has only the rights the centre gives a hub (see docs/CENTRE.md). The server
can be stopped and started again on the same port and store (an outage of the centre).
"""

import asyncio
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    RawStreamMsg,
    StorageType,
    StreamConfig,
)

from wire.uplink import (
    DOWNLINK_STREAM,
    DOWNLINK_SUBJECTS,
    UPLINK_STREAM,
    UPLINK_SUBJECTS,
    UplinkEnvelope,
    downlink_consumer,
    downlink_subject,
    inbox_prefix,
)

NATS_SERVER = "/usr/sbin/nats-server"
CENTRE_USER, CENTRE_PASSWORD = "centre", "centre-secret-8d1f"
DUPLICATE_WINDOW_S = 120.0


@dataclass(frozen=True)
class Certificates:
    """A CA and a server certificate for 127.0.0.1, made with openssl."""

    ca: Path
    cert: Path
    key: Path


def make_certificates(folder: Path) -> Certificates:
    """A throwaway CA, and a certificate it signed for 127.0.0.1."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (
        folder / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    ext = folder / "server.ext"
    ext.write_text("subjectAltName = IP:127.0.0.1\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-days",
        "2",
        "-subj",
        "/CN=test centre CA",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        "/CN=127.0.0.1",
    )
    openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(ext),
    )
    return Certificates(ca, cert, key)


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hub_permissions(hub_id: str) -> str:
    """What the centre lets one hub do: its own uplink, its own downlink, its own inbox."""
    consumer = downlink_consumer(hub_id)
    allow_pub = [
        f"uplink.{hub_id}.>",
        f"$JS.API.CONSUMER.MSG.NEXT.{DOWNLINK_STREAM}.{consumer}",
        f"$JS.ACK.{DOWNLINK_STREAM}.{consumer}.>",
    ]
    pub = ", ".join(f'"{s}"' for s in allow_pub)
    return f'{{publish: {{allow: [{pub}]}}, subscribe: {{allow: ["{inbox_prefix(hub_id)}.>"]}}}}'


class Engine:
    """The centre's engine, for a hub test: `start`, `stop`, and an admin connection."""

    def __init__(self, folder: Path, certs: Certificates, hubs: dict[str, str]) -> None:
        self.folder = folder
        self.certs = certs
        self.hubs = hubs  # hub id -> password
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "nats.conf"
        self.config.write_text(self._config_text())

    @property
    def url(self) -> str:
        return f"tls://127.0.0.1:{self.port}"

    def _config_text(self) -> str:
        users = [f'{{user: "{CENTRE_USER}", password: "{CENTRE_PASSWORD}"}}']
        users += [
            f'{{user: "{hub}", password: "{pw}", permissions: {hub_permissions(hub)}}}'
            for hub, pw in self.hubs.items()
        ]
        return (
            f"listen: 127.0.0.1:{self.port}\n"
            f'jetstream {{ store_dir: "{self.folder / "js"}" }}\n'
            f'tls {{ cert_file: "{self.certs.cert}", key_file: "{self.certs.key}" }}\n'
            f"authorization {{ users: [{', '.join(users)}] }}\n"
        )

    def start(self) -> None:
        """Start the server and wait until it takes connections."""
        with (self.folder / "nats.log").open("ab") as log:
            self.process = subprocess.Popen(
                [NATS_SERVER, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((self.folder / "nats.log").read_text()) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (its streams stay on disk)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)
        self.process = None

    @asynccontextmanager
    async def admin(self) -> AsyncIterator[Client]:
        """A connection as the centre's own user."""
        tls = ssl.create_default_context(cafile=str(self.certs.ca))
        nc = await nats.connect(
            self.url, user=CENTRE_USER, password=CENTRE_PASSWORD, tls=tls, allow_reconnect=False
        )
        try:
            yield nc
        finally:
            await nc.close()

    async def create_streams(self) -> None:
        """UPLINK and DOWNLINK as the centre makes them, and each hub's downlink consumer."""
        async with self.admin() as nc:
            js = nc.jetstream()
            await js.add_stream(
                StreamConfig(
                    name=UPLINK_STREAM,
                    subjects=[UPLINK_SUBJECTS],
                    storage=StorageType.FILE,
                    duplicate_window=DUPLICATE_WINDOW_S,
                )
            )
            await js.add_stream(
                StreamConfig(
                    name=DOWNLINK_STREAM, subjects=[DOWNLINK_SUBJECTS], storage=StorageType.FILE
                )
            )
            for hub in self.hubs:
                await js.add_consumer(
                    DOWNLINK_STREAM,
                    ConsumerConfig(
                        durable_name=downlink_consumer(hub),
                        filter_subject=downlink_subject(hub),
                        ack_policy=AckPolicy.EXPLICIT,
                        ack_wait=5.0,
                    ),
                )

    async def uplink(self) -> list[RawStreamMsg]:
        """Every message the UPLINK stream holds, in the order it stored them."""
        async with self.admin() as nc:
            js = nc.jetstream()
            info = await js.stream_info(UPLINK_STREAM)
            first, last = info.state.first_seq, info.state.last_seq
            found = []
            for seq in range(first, last + 1) if info.state.messages else ():
                found.append(await js.get_msg(UPLINK_STREAM, seq))
            return found

    async def envelopes(self) -> list[UplinkEnvelope]:
        """The uplink's envelopes, in stream order."""
        return [UplinkEnvelope.model_validate_json(m.data or b"") for m in await self.uplink()]

    async def send_action(self, hub_id: str, payload: bytes) -> None:
        """Publish an operator action on the hub's downlink, as the centre does."""
        async with self.admin() as nc:
            await nc.jetstream().publish(downlink_subject(hub_id), payload)


async def wait_until_up(engine: Engine) -> None:
    """Until the admin user can use JetStream."""
    deadline = time.monotonic() + 15
    while True:
        try:
            async with engine.admin() as nc:
                await nc.jetstream().account_info()
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
