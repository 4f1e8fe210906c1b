"""Start-up and staged shutdown of the real hub process: time to ready, time from SIGTERM to exit.

Run: .venv/bin/python -m bench.lifecycle [--runs N]
Target (issue 2): shutdown within 5 s of SIGTERM.
"""

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.hubproc import HubUnderTest
from hub.mqtt.broker import LocalBroker

CONFIG = """\
[mqtt]
port = {port}
client_id = "bench-hub"
[store]
path = "{db}"
[[contacts]]
name = "Alice"
[[devices]]
id = "pendant-1"
name = "pendant"
role = "pendant"
"""


def one_run(broker: LocalBroker, workdir: Path) -> tuple[float, float]:
    config = workdir / "hub.toml"
    config.write_text(CONFIG.format(port=broker.port, db=workdir / "hub.db"))
    hub = HubUnderTest(config)
    ready_s = hub.start()
    code, stop_s = hub.stop()
    if code != 0:
        raise SystemExit(f"hub exited {code}:\n{hub.log.read_text()}")
    return ready_s, stop_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalBroker(Path(tmp) / "broker") as broker:
        results = [one_run(broker, Path(tmp)) for _ in range(args.runs)]
    ready = [r for r, _ in results]
    stop = [s for _, s in results]
    print(f"broker: {broker.kind}; runs: {args.runs}")
    for label, values in (("start to ready", ready), ("SIGTERM to exit", stop)):
        median_ms = statistics.median(values) * 1000
        print(f"{label:<16} median {median_ms:7.1f} ms  max {max(values) * 1000:7.1f} ms")
    print("target: SIGTERM to exit < 5000 ms")


if __name__ == "__main__":
    main()
