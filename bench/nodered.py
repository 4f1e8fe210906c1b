"""The same forwarding job in Node-RED, measured beside the hub in one run.

Run: .venv/bin/python -m bench.nodered

Node-RED 4 (5 needs Node.js 22; this runs on the Node.js 20 of Debian and Raspberry Pi OS).

Node-RED is installed from the npm registry into ~/.cache/bench-nodered (once; later runs reuse
it) and started headless: no editor or admin API, no credentials, a free loopback port. Its flow
subscribes to the hub's topics at QoS 1 on the same Mosquitto and, for each alert-worthy message,
posts to the same ntfy and Twilio stand-ins as `bench.floor`. It stores nothing, and acknowledges
each message on receipt. An HTTP endpoint of the flow says how many messages it has taken, for the
sustained phase. Without node or npm the column is skipped with the reason.
"""

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.latency import Publisher, run_phase
from bench.phones import Phones
from bench.traffic import ALICE_TOPIC, BOB_PHONE, Household
from hub.mqtt.broker import LocalBroker, free_port
from tests.support.standins import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

INSTALL = Path.home() / ".cache" / "bench-nodered"
RED = INSTALL / "node_modules" / "node-red" / "red.js"
START_LIMIT_S = 60.0
SUSTAINED_MESSAGES = 20000
DECIDE = """
const p = msg.payload;
let text = null;
if (p.includes("pendant.pressed")) text = "Mum pressed the pendant";
else if (p.includes("pendant.cancelled")) text = "All OK: the pendant alarm was cancelled";
else if (msg.topic.startsWith("zigbee2mqtt/smoke-"))
  text = JSON.parse(p).smoke ? "FIRE ALARM" : "All clear: the smoke alarm stopped";
global.set("taken", (global.get("taken") || 0) + 1);
if (text === null) return null;
const form = "To=" + encodeURIComponent(TO) + "&From=" + encodeURIComponent(FROM)
  + "&Body=" + encodeURIComponent(text);
return [
  {url: NTFY, method: "POST", payload: text, headers: {"Content-Type": "text/plain"}},
  {url: SMS, method: "POST", payload: form,
   headers: {"Authorization": AUTH, "Content-Type": "application/x-www-form-urlencoded"}},
];
"""


def why_not() -> str | None:
    """Why Node-RED cannot be run here, or None once it is installed."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "skipped: node or npm is not installed"
    if not RED.exists():
        done = subprocess.run(
            ["npm", "install", "--prefix", str(INSTALL), "node-red@4", "--no-audit", "--no-fund"],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if done.returncode != 0 or not RED.exists():
            return f"skipped: npm install node-red failed: {done.stderr.strip()[-200:]}"
    return None


def flow(mqtt_port: int, ntfy: str, twilio: str) -> list[dict[str, Any]]:
    """MQTT in (two topics) -> decide -> one HTTP request per channel; GET /taken counts."""

    auth = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    consts = {
        "NTFY": f"{ntfy}/{ALICE_TOPIC}",
        "SMS": f"{twilio}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        "AUTH": auth, "TO": BOB_PHONE, "FROM": FROM_NUMBER,
    }  # fmt: skip
    code = "".join(f"const {k} = {json.dumps(v)};\n" for k, v in consts.items()) + DECIDE
    tab = {"z": "tab"}
    mqtt_in = {"type": "mqtt in", "qos": "1", "datatype": "utf8", "broker": "broker", **tab}
    request = {"type": "http request", "method": "use", "ret": "txt", "wires": [[]], **tab}
    return [
        {"id": "tab", "type": "tab", "label": "forward"},
        {"id": "broker", "type": "mqtt-broker", "broker": "127.0.0.1", "port": str(mqtt_port),
         "clientid": "bench-node-red", "protocolVersion": "4", "cleansession": True,
         "keepalive": "60", "autoConnect": True},
        {"id": "in1", "topic": "telecare/#", "wires": [["decide"]], **mqtt_in},
        {"id": "in2", "topic": "zigbee2mqtt/#", "wires": [["decide"]], **mqtt_in},
        {"id": "decide", "type": "function", "func": code, "outputs": 2,
         "wires": [["ntfy"], ["sms"]], **tab},
        {"id": "ntfy", **request},
        {"id": "sms", **request},
        {"id": "count", "type": "http in", "url": "/taken", "method": "get",
         "wires": [["taken"]], **tab},
        {"id": "taken", "type": "function", "outputs": 1, "wires": [["reply"]], **tab,
         "func": 'msg.payload = String(global.get("taken") || 0); return msg;'},
        {"id": "reply", "type": "http response", "wires": [], **tab},
    ]  # fmt: skip


class NodeRed:
    """A headless Node-RED running `flow()` from a folder of its own."""

    def __init__(self, folder: Path, mqtt_port: int, phones: Phones) -> None:
        self.port = free_port()
        folder.mkdir()
        (folder / "flows.json").write_text(
            json.dumps(flow(mqtt_port, phones.ntfy_url, phones.twilio_url))
        )
        (folder / "settings.js").write_text(
            f"module.exports = {{uiHost: '127.0.0.1', uiPort: {self.port}, httpAdminRoot: false,"
            f" credentialSecret: false, flowFile: 'flows.json', userDir: {json.dumps(str(folder))},"
            " logging: {console: {level: 'info'}}};"
        )
        self._log = (folder / "node-red.log").open("w")
        self.process = subprocess.Popen(
            ["node", str(RED), "--settings", str(folder / "settings.js"), "--userDir", str(folder)],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=folder,
        )  # fmt: skip
        self.folder = folder

    def taken(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/taken", timeout=5) as reply:
            return int(reply.read())

    def wait_connected(self) -> None:
        deadline = time.monotonic() + START_LIMIT_S
        while "Connected to broker" not in (self.folder / "node-red.log").read_text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                log = (self.folder / "node-red.log").read_text()[-600:]
                raise SystemExit(f"Node-RED did not connect:\n{log}")
            time.sleep(0.1)

    def rss_peak_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


def sustained_rate(red: NodeRed, publisher: Publisher, phones: Phones) -> float:
    """Messages taken a second, back to back, 1 % alert-worthy: the fastest the flow goes."""
    messages = Household().stream(SUSTAINED_MESSAGES, 0.01)
    before = red.taken()
    started = time.monotonic()
    run_phase(publisher, phones, messages, None)
    while red.taken() < before + len(messages):
        time.sleep(0.01)
    return len(messages) / (time.monotonic() - started)


def measure_node_red() -> dict[str, Any]:
    """steady, burst, priority and sustained through Node-RED, or why they were skipped."""
    reason = why_not()
    if reason is not None:
        return {"skipped": reason}
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalBroker(Path(tmp) / "broker", kind="mosquitto") as broker,
        Phones() as phones,
    ):
        red = NodeRed(Path(tmp) / "node-red", broker.port, phones)
        try:
            red.wait_connected()
            time.sleep(1.0)
            publisher = Publisher(broker.host, broker.port)
            home = Household()
            results: dict[str, Any] = {
                "steady": run_phase(publisher, phones, home.stream(2000, 0.4), 200.0).summary(),
                "burst": run_phase(publisher, phones, home.stream(1000, 0.4), None).summary(),
                "priority": run_phase(publisher, phones, home.stream(1000, 0.01), None).summary(),
            }
            results["sustained_msg_per_s"] = sustained_rate(red, publisher, phones)
            results["rss_peak_mib"] = red.rss_peak_mib()
            publisher.close()
        finally:
            red.stop()
    return results


if __name__ == "__main__":
    print(json.dumps(measure_node_red(), indent=1))
