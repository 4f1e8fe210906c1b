"""The NATS server configuration: one account, the centre's user, one user per hub.

Each hub may publish only under its own uplink subjects, fetch and acknowledge only from its own
downlink consumer, and receive replies only under its own inbox prefix; so the broker itself
refuses a hub that speaks for another home or reads another home's actions. Passwords appear
only as bcrypt hashes. `accounts.conf` is included by every node and rewritten when a hub is
added; the nodes are then told to reload it.
"""

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from centre.partitions import UPLINK_MAPPING, partition_of
from wire.uplink import DOWNLINK_STREAM, downlink_consumer, inbox_prefix

ACCOUNT = "TELECARE"
CLUSTER_NAME = "telecare"


def password_hash(password: str) -> str:
    """The bcrypt hash NATS checks a password against (cost 10: a hub connects rarely)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(10)).decode()


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """One node's own settings (ports on 127.0.0.1, its name and its JetStream folder)."""

    name: str
    client_port: int
    cluster_port: int
    http_port: int
    store_dir: Path
    log_file: Path
    pid_file: Path


def hub_permissions(hub_id: str) -> dict[str, dict[str, list[str]]]:
    """What a hub's NATS user may publish and subscribe to: only its own subjects.

    Publishing a JetStream request needs the API subject; the reply comes on the hub's inbox.
    The brokers check what a hub publishes after mapping it to its partition, so a hub may
    publish only into its own: it cannot put its messages where no worker reads them.
    """
    consumer = downlink_consumer(hub_id)
    return {
        "publish": {
            "allow": [
                f"uplink.{hub_id}.*.{partition_of(hub_id)}",
                f"$JS.API.CONSUMER.MSG.NEXT.{DOWNLINK_STREAM}.{consumer}",
                f"$JS.API.CONSUMER.INFO.{DOWNLINK_STREAM}.{consumer}",
                f"$JS.ACK.{DOWNLINK_STREAM}.{consumer}.>",
            ]
        },
        "subscribe": {"allow": [f"{inbox_prefix(hub_id)}.>"]},
    }


def render_accounts(centre_user: str, centre_hash: str, hubs: Mapping[str, str]) -> str:
    """`accounts.conf`: the centre's user (all rights) and each hub's (its own subjects only).

    Args:
        centre_user: The centre's NATS user name.
        centre_hash: bcrypt hash of the centre's password.
        hubs: Hub id to the bcrypt hash of its NATS password.
    """
    users: list[dict[str, object]] = [{"user": centre_user, "password": centre_hash}]
    users += [
        {"user": hub, "password": digest, "permissions": hub_permissions(hub)}
        for hub, digest in sorted(hubs.items())
    ]
    account = {"jetstream": "enabled", "users": users, "mappings": UPLINK_MAPPING}
    return f"accounts: {json.dumps({ACCOUNT: account}, indent=2)}\n"


def render_node(
    node: NodeConfig, routes: list[int], *, route_password: str, cert: tuple[Path, Path]
) -> str:
    """One node's configuration: TLS on the client port, routes to the others, JetStream."""
    route_urls = [f"nats-route://route:{route_password}@127.0.0.1:{port}" for port in routes]
    config = {
        "server_name": node.name,
        "listen": f"127.0.0.1:{node.client_port}",
        "http": f"127.0.0.1:{node.http_port}",
        "log_file": str(node.log_file),
        "pid_file": str(node.pid_file),
        "max_payload": 1024 * 1024,
        "tls": {"cert_file": str(cert[0]), "key_file": str(cert[1]), "timeout": 5},
        "jetstream": {
            "store_dir": str(node.store_dir),
            "max_memory_store": 64 * 1024 * 1024,
            "max_file_store": 2 * 1024 * 1024 * 1024,
        },
        "cluster": {
            "name": CLUSTER_NAME,
            "listen": f"127.0.0.1:{node.cluster_port}",
            "authorization": {"user": "route", "password": route_password},
            "routes": route_urls,
        },
    }
    # NATS reads JSON values as its own syntax; the top level is a list of `key: value` lines.
    lines = [f"{key}: {json.dumps(value)}" for key, value in config.items()]
    return "\n".join([*lines, "include ./accounts.conf", ""])


def accounts_unchanged(folder: Path, text: str) -> bool:
    """Whether `accounts.conf` in `folder` says `text` already (a reload would change nothing).

    A reload with a thousand hub users takes the nodes a minute or more, during which
    JetStream's API answers for the account at best slowly: a centre that restarts with the
    same hubs must not cause one.
    """
    try:
        return (folder / "accounts.conf").read_text() == text
    except OSError:
        return False


def centre_hash_in(folder: Path, centre_user: str, centre_password: str) -> str | None:
    """The centre's password hash that `accounts.conf` in `folder` holds, if it is this password's.

    bcrypt salts each hash: reused, a restarted centre writes the file it finds, to the byte.
    """
    try:
        accounts = json.loads((folder / "accounts.conf").read_text().split(":", 1)[1])
        users = accounts[ACCOUNT]["users"]
    except (OSError, ValueError, IndexError, KeyError, TypeError):
        return None
    for user in users if isinstance(users, list) else ():
        if not isinstance(user, dict):
            continue
        digest = user.get("password")
        if user.get("user") == centre_user and isinstance(digest, str):
            with contextlib.suppress(ValueError):
                if bcrypt.checkpw(centre_password.encode(), digest.encode()):
                    return digest
    return None


def write_accounts(folder: Path, text: str) -> Path:
    """Write `accounts.conf` readable only by its owner (it holds password hashes)."""
    path = folder / "accounts.conf"
    path.touch(mode=0o600, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.touch(mode=0o600, exist_ok=True)
    temporary.write_text(text)
    temporary.replace(path)
    return path
