"""Mosquitto's own window of messages in flight, against the one the hub is told of.

For `telecare config check`. While the card refuses writes, the hub leaves up to
`[mqtt] broker_max_inflight` less 4 messages unacknowledged (`hub.store.backlog`), believing
the broker stops only past that many. Mosquitto stops at its `max_inflight_messages` (20 when
unset): a smaller window than the hub believes stops the broker's deliveries while the hub
waits, so alarms stall for as long as the fault lasts.

The configuration is read as Mosquitto reads it: the main file (Debian's
`/etc/mosquitto/mosquitto.conf`, which `include_dir /etc/mosquitto/conf.d` and so
`deploy/raspberrypi/install.sh`'s `conf.d/telecare.conf`), `include_dir` only in the main file,
its `*.conf` files in Mosquitto's order (case-insensitive, then capitals first), the last
setting winning. `max_inflight_messages` is one setting for the whole broker:
`per_listener_settings` concerns only the security options, so it changes nothing here.
"""

from dataclasses import dataclass
from pathlib import Path

from hub.config.file import HubConfig
from hub.store.backlog import UNACKED_HEADROOM

MOSQUITTO_CONF = Path("/etc/mosquitto/mosquitto.conf")  # what Debian's mosquitto.service runs
MOSQUITTO_DEFAULT = 20  # Mosquitto's max_inflight_messages when no file sets it
NO_LIMIT = 65535  # Mosquitto takes this, or a negative value, as 0: no limit


@dataclass(frozen=True, slots=True)
class Inflight:
    """Mosquitto's `max_inflight_messages` and where it comes from.

    Attributes:
        value: The window; 0 for no limit.
        where: The file and line that set it last; None when no file does (the default).
        files: Every file read, in order.
        problems: What could not be read or understood (Mosquitto would not start so).
    """

    value: int
    where: str | None
    files: tuple[Path, ...]
    problems: tuple[str, ...] = ()


def read_inflight(main: Path) -> Inflight | None:
    """Mosquitto's window as its configuration `main` sets it; None if there is no such file."""
    if not main.is_file():
        return None
    reader = _Reader()
    reader.read(main, top=True)
    return Inflight(reader.value, reader.where, tuple(reader.files), tuple(reader.problems))


class _Reader:
    def __init__(self) -> None:
        self.value = MOSQUITTO_DEFAULT
        self.where: str | None = None
        self.files: list[Path] = []
        self.problems: list[str] = []

    def read(self, path: Path, *, top: bool) -> None:
        try:
            text = path.read_text(errors="replace")
        except OSError as err:
            self.problems.append(f"{path}: cannot be read ({err.strerror or err})")
            return
        self.files.append(path)
        for number, line in enumerate(text.splitlines(), start=1):
            words = line.strip().split(maxsplit=1)
            if not words or words[0].startswith("#"):
                continue
            key, value = words[0], words[1].strip() if len(words) > 1 else ""
            if key == "include_dir" and top:  # Mosquitto takes it from the main file only
                self._include(Path(value), f"{path}:{number}")
            elif key == "max_inflight_messages":
                self._inflight(value.split(maxsplit=1)[0] if value else "", f"{path}:{number}")

    def _include(self, folder: Path, where: str) -> None:
        try:
            names = [p.name for p in folder.iterdir() if p.suffix == ".conf"]  # not ".conf"
        except OSError as err:
            self.problems.append(f"{where}: include_dir {folder} cannot be read ({err.strerror})")
            return
        for name in sorted(names, key=lambda n: [(c.upper(), c) for c in n]):
            self.read(folder / name, top=False)

    def _inflight(self, word: str, where: str) -> None:
        try:
            value = int(word)
        except ValueError:
            self.problems.append(f"{where}: max_inflight_messages {word!r} is not a number")
            return
        self.value = 0 if value < 0 or value == NO_LIMIT else value
        self.where = where


def inflight_warnings(config: HubConfig, config_file: Path, main: Path) -> list[str]:
    """Warnings when Mosquitto's window (configuration `main`) differs from the hub's."""
    broker = read_inflight(main)
    if broker is None:  # the broker is elsewhere, or not installed here: nothing to compare
        return []
    hub = config.mqtt.broker_max_inflight
    default = "" if "broker_max_inflight" in config.mqtt.model_fields_set else " (the default)"
    ours = f"{config_file}: [mqtt] broker_max_inflight is {hub}{default}"
    problems = [f"Mosquitto's configuration: {problem}" for problem in broker.problems]
    if broker.value == hub:
        return problems
    if broker.where is None:
        theirs = (
            f"no file of Mosquitto's configuration ({', '.join(map(str, broker.files))}) sets"
            f" max_inflight_messages, so the broker keeps to its default of {MOSQUITTO_DEFAULT}"
        )
    else:
        shown = "0 (no limit)" if broker.value == 0 else str(broker.value)
        theirs = f"{broker.where} sets max_inflight_messages {shown}"
    return [*problems, f"{ours}, but {theirs}: {_consequence(hub, broker.value)}"]


def _consequence(hub: int, broker: int) -> str:
    held = hub - UNACKED_HEADROOM
    if 0 < broker < hub:
        return (
            f"while the card refuses writes the hub waits with up to {held} messages"
            f" unacknowledged, but the broker stops delivering after {broker}, so alarms stall"
            f" until the card takes writes again; set max_inflight_messages {hub} in Mosquitto's"
            " configuration (the shipped telecare.conf sets 1000), or broker_max_inflight to"
            " the broker's number"
        )
    wanted = "1000 in both" if broker == 0 else f"[mqtt] broker_max_inflight = {broker}"
    return (
        f"while the card refuses writes the hub acknowledges messages past {held}, kept in"
        " memory alone (a crash before the card takes writes loses them), although the broker"
        f" would keep more; set {wanted}"
    )
