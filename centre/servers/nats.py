"""A NATS JetStream cluster of three nodes on free loopback ports, TLS on the client ports.

Used by the tests, the demo and the bench. Each node has its own server name, client, route and
monitoring port and its own JetStream folder; every node includes the same `accounts.conf`,
which `set_hubs` rewrites before telling each node to reload it (SIGHUP, as
`nats-server --signal reload=<pid>` does). A node that exits at start because one of its ports
was taken meanwhile has the whole cluster started again on fresh ports (the nodes' routes name
each other's ports), a few times at most.
"""

import functools
import json
import os
import secrets
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from centre.servers.natsconf import (
    NodeConfig,
    accounts_unchanged,
    password_hash,
    render_accounts,
    render_node,
    write_accounts,
)
from centre.servers.process import (
    ManagedServer,
    NotReadyError,
    ServerStartError,
    free_port,
    port_in_use,
    start_on_fresh_ports,
    stop,
    wait_for,
)
from centre.servers.tls import ServerCertificate, make_certificates

START_TIMEOUT_S = 60.0
CENTRE_USER = "centre"


def nats_server_binary() -> str:
    """The nats-server executable (Debian installs it in /usr/sbin).

    Raises:
        ServerStartError: it is not installed.
    """
    found = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin:/sbin")
    if found is None:
        msg = "nats-server is not installed (apt-get install nats-server)"
        raise ServerStartError(msg)
    return found


def _http_json(port: int, path: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as reply:
            data: dict[str, object] = json.loads(reply.read())
            return data
    except (urllib.error.URLError, OSError, ValueError):
        return None


class NatsCluster(ManagedServer):
    """Three (or `size`) nats-server processes forming one JetStream cluster.

    Attributes:
        centre_password: The centre's own NATS password (full rights).
        certificate: The CA and server certificate; clients trust `certificate.ca_file`.
    """

    def __init__(self, workdir: Path, *, size: int = 3) -> None:
        self.workdir = workdir
        self.centre_password = secrets.token_urlsafe(24)
        self._centre_hash = password_hash(self.centre_password)
        self._route_password = secrets.token_urlsafe(24)
        self._hubs: dict[str, str] = {}
        self.nodes = self._nodes_on_free_ports(size)
        self._processes: list[subprocess.Popen[bytes] | None] = [None] * size
        self._log_starts = [0] * size  # where each node's log of its current run begins
        self.certificate: ServerCertificate | None = None

    def _nodes_on_free_ports(self, size: int) -> list[NodeConfig]:
        chosen: set[int] = set()

        def port() -> int:
            found = free_port()
            while found in chosen:  # the same port twice would fail the second node
                found = free_port()
            chosen.add(found)
            return found

        return [
            NodeConfig(
                name=f"n{index + 1}",
                client_port=port(),
                cluster_port=port(),
                http_port=port(),
                store_dir=self.workdir / f"n{index + 1}" / "jetstream",
                log_file=self.workdir / f"n{index + 1}" / "nats.log",
                pid_file=self.workdir / f"n{index + 1}" / "nats.pid",
            )
            for index in range(size)
        ]

    @property
    def servers(self) -> list[str]:
        """The client URLs of every node, `tls://127.0.0.1:<port>`."""
        return [f"tls://127.0.0.1:{node.client_port}" for node in self.nodes]

    @property
    def accounts_file(self) -> Path:
        """The accounts file every node includes."""
        return self.workdir / "accounts.conf"

    @property
    def pid_files(self) -> list[Path]:
        """Each node's pid file (what `[nats] pid_files` names in production)."""
        return [node.pid_file for node in self.nodes]

    @property
    def ca_file(self) -> Path:
        """The CA certificate clients must trust."""
        if self.certificate is None:
            msg = "the cluster has not been started"
            raise ServerStartError(msg)
        return self.certificate.ca_file

    def nats_section(self) -> str:
        """The `[nats]` section of a centre.toml for this cluster, as the centre's user."""
        return (
            "[nats]\n"
            f"servers = {json.dumps(self.servers)}\n"
            f"user = {json.dumps(CENTRE_USER)}\n"
            f"password = {json.dumps(self.centre_password)}\n"
            f"ca_file = {json.dumps(str(self.ca_file))}\n"
            f"accounts_file = {json.dumps(str(self.accounts_file))}\n"
            f"pid_files = {json.dumps([str(p) for p in self.pid_files])}\n"
        )

    def start(self) -> None:
        """Write the configurations, start every node, wait until JetStream is healthy.

        Raises:
            PortInUseError: a node's port was taken at every try; names the node and port.
            ServerStartError: a node exited or did not become healthy; quotes its log.
        """
        self.certificate = make_certificates(self.workdir / "tls")
        write_accounts(self.workdir, self._accounts())
        made = [node.store_dir for node in self.nodes if not node.store_dir.exists()]
        start_on_fresh_ports(functools.partial(self._start_nodes, made), what="the NATS cluster")

    def _start_nodes(self, made: list[Path], attempt: int) -> None:
        if attempt > 1:
            self.stop()
            # JetStream folders made by the failed try: their cluster state names the old
            # routes, and the nodes would take seconds to elect a leader past it.
            for store in made:
                shutil.rmtree(store, ignore_errors=True)
            self.nodes = self._nodes_on_free_ports(len(self.nodes))
        for index in range(len(self.nodes)):
            self.start_node(index, wait=False)
        for index in range(len(self.nodes)):
            self._wait_healthy(index)

    def start_node(self, index: int, *, wait: bool = True) -> None:
        """Start one node (again, after `stop_node`), keeping its JetStream folder."""
        node = self.nodes[index]
        node.store_dir.mkdir(parents=True, exist_ok=True)
        assert self.certificate is not None  # set by start()
        others = [n.cluster_port for n in self.nodes if n is not node]
        cert = (self.certificate.cert_file, self.certificate.key_file)
        conf = self.workdir / f"{node.name}.conf"
        conf.write_text(render_node(node, others, route_password=self._route_password, cert=cert))
        conf.chmod(0o600)
        command = [nats_server_binary(), "-c", str(conf)]
        self._log_starts[index] = node.log_file.stat().st_size if node.log_file.exists() else 0
        self._processes[index] = subprocess.Popen(  # noqa: S603
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if wait:
            self._wait_healthy(index)

    def stop_node(self, index: int, *, kill: bool = False) -> None:
        """Stop one node (SIGKILL when `kill`: as a machine that loses power)."""
        stop(self._processes[index], signal.SIGKILL if kill else signal.SIGTERM)
        self._processes[index] = None

    def pid(self, index: int) -> int | None:
        """The process id of a running node."""
        process = self._processes[index]
        return None if process is None or process.poll() is not None else process.pid

    def set_hubs(self, hubs: Mapping[str, str]) -> None:
        """Make these hubs (id to bcrypt password hash) the cluster's hub users, and reload.

        Nothing is reloaded if they are the users already (`accounts_unchanged`).
        """
        self._hubs = dict(hubs)
        text = self._accounts()
        if accounts_unchanged(self.workdir, text):
            return
        write_accounts(self.workdir, text)
        for index, node in enumerate(self.nodes):
            pid = self.pid(index)
            if pid is None:
                continue  # a stopped node reads the new file when it starts
            before = self._load_time(node)
            os.kill(pid, signal.SIGHUP)
            wait_for(
                functools.partial(self._reloaded, node, before),
                timeout_s=START_TIMEOUT_S,
                what=f"NATS node {node.name} reloading its accounts",
            )

    def _reloaded(self, node: NodeConfig, before: object) -> bool:
        return self._load_time(node) not in (None, before)

    def stop(self) -> None:
        """Stop every node."""
        for index in range(len(self.nodes)):
            self.stop_node(index)

    def _accounts(self) -> str:
        return render_accounts(CENTRE_USER, self._centre_hash, self._hubs)

    @staticmethod
    def _load_time(node: NodeConfig) -> object:
        varz = _http_json(node.http_port, "/varz")
        return None if varz is None else varz.get("config_load_time")

    def _wait_healthy(self, index: int) -> None:
        node = self.nodes[index]
        process = self._processes[index]

        def healthy() -> bool:
            if process is not None and process.poll() is not None:
                raise self._exit_error(index)
            reply = _http_json(node.http_port, "/healthz")
            return reply is not None and reply.get("status") == "ok"

        try:
            wait_for(healthy, timeout_s=START_TIMEOUT_S, what=f"NATS node {node.name}")
        except NotReadyError as err:
            msg = f"{err}: {self._log_tail(index)}"
            raise ServerStartError(msg) from err

    def _exit_error(self, index: int) -> ServerStartError:
        node = self.nodes[index]
        what = f"NATS node {node.name}"
        ports = {"client": node.client_port, "route": node.cluster_port}
        ports["monitoring"] = node.http_port
        taken = port_in_use(self._log(index), what, ports)
        return taken or ServerStartError(f"{what} exited: {self._log_tail(index)}")

    def _log(self, index: int) -> str:
        """What the node has logged since it was last started."""
        try:
            with self.nodes[index].log_file.open("rb") as log:
                log.seek(self._log_starts[index])
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def _log_tail(self, index: int) -> str:
        return " | ".join(self._log(index).splitlines()[-5:]) or "(no log)"
