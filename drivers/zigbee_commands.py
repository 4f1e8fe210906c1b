"""The hub's device commands as Zigbee2MQTT `/set` payloads, chosen from what a model exposes.

A native device understands `reassure`, `chime` and `identify` itself. A Zigbee device only
understands what its converter exposes as settable (access bit 2 in `bridge/devices`), so each
command is translated into the first of these that the device has (shapes from
Koenkk/zigbee-herdsman-converters: `modernExtend.identify`, `light` effects, `iasWarning`, and
the Tuya / Develco sirens' `alarm`):

- identify (find it among others): `{"identify": "identify"}`, else a light's blink effect.
- reassure (help is coming): a light's `okay` effect (a green flash on Hue bulbs) or blink, else
  `identify`, else a siren's one-second low chirp with its strobe.
- chime (a medication reminder): a siren's two-second low chirp, else its `alarm` switch (at its
  lowest volume and two seconds where it exposes them).

A device with none of these gets nothing: the hub says so rather than guessing. An indicator LED
setting (`led_indication`) is deliberately not used: it is a setting that would stay changed.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Command = Literal["reassure", "chime", "identify"]
COMMANDS: tuple[Command, ...] = get_args(Command)
SETTABLE = 0b010  # Zigbee2MQTT's access bit: the property can be written with /set
REASSURE_CHIRP_S = 1
CHIME_S = 2
QUIET_LEVEL = "low"


@dataclass(frozen=True, slots=True)
class Exposure:
    """One settable property of a Zigbee2MQTT definition, as far as commands need it."""

    type: str
    values: tuple[str, ...] = ()
    value_on: Any = True
    features: Mapping[str, "Exposure"] = field(default_factory=dict)


def settable_exposures(exposes: list[Any]) -> dict[str, Exposure]:
    """The settable top-level properties of a definition's exposes (light features included)."""
    found: dict[str, Exposure] = {}
    for item in exposes:
        if not isinstance(item, dict):
            continue
        if item.get("type") in {"light", "switch"} and isinstance(item.get("features"), list):
            found.update(settable_exposures(item["features"]))  # a light's effect, state...
            continue
        exposure = _exposure(item)
        if exposure is not None:
            found[item["property"]] = exposure
    return found


def _exposure(item: dict[str, Any]) -> Exposure | None:
    access = item.get("access")
    if not isinstance(item.get("property"), str) or not isinstance(access, int):
        return None
    if not access & SETTABLE:
        return None
    values = item.get("values")
    features = item.get("features")
    return Exposure(
        type=str(item.get("type", "")),
        values=tuple(v for v in values if isinstance(v, str)) if isinstance(values, list) else (),
        value_on=item.get("value_on", True),
        features=settable_exposures(features) if isinstance(features, list) else {},
    )


def set_payload(command: Command, exposures: Mapping[str, Exposure]) -> dict[str, Any] | None:
    """The `/set` body that carries out `command` on a device with these exposures, if any."""
    if command == "identify":
        return _identify(exposures) or _effect(exposures, "blink")
    if command == "reassure":
        return (
            _effect(exposures, "okay")
            or _effect(exposures, "blink")
            or _identify(exposures)
            or _chirp(exposures, REASSURE_CHIRP_S, strobe=True)
        )
    return _chirp(exposures, CHIME_S, strobe=False) or _alarm(exposures)


def supported_commands(exposures: Mapping[str, Exposure]) -> tuple[Command, ...]:
    """The commands a device with these exposures can carry out."""
    return tuple(c for c in COMMANDS if set_payload(c, exposures) is not None)


def _identify(exposures: Mapping[str, Exposure]) -> dict[str, Any] | None:
    found = exposures.get("identify")
    if found is None or "identify" not in found.values:
        return None
    return {"identify": "identify"}


def _effect(exposures: Mapping[str, Exposure], effect: str) -> dict[str, Any] | None:
    found = exposures.get("effect")
    if found is None or effect not in found.values:
        return None
    return {"effect": effect}


def _chirp(
    exposures: Mapping[str, Exposure], duration_s: int, *, strobe: bool
) -> dict[str, Any] | None:
    """A short, quiet IAS warning: the mode is the first sound the siren has other than stop."""
    found = exposures.get("warning")
    mode = found.features.get("mode") if found is not None else None
    sounds = [v for v in mode.values if v != "stop"] if mode is not None else []
    if found is None or not sounds:
        return None
    warning: dict[str, Any] = {"mode": sounds[0]}
    level = found.features.get("level")
    if level is not None and QUIET_LEVEL in level.values:
        warning["level"] = QUIET_LEVEL
    if "strobe" in found.features:
        warning["strobe"] = strobe
    if "duration" in found.features:
        warning["duration"] = duration_s
    return {"warning": warning}


def _alarm(exposures: Mapping[str, Exposure]) -> dict[str, Any] | None:
    found = exposures.get("alarm")
    if found is None or found.type != "binary":
        return None
    body: dict[str, Any] = {}
    volume = exposures.get("volume")
    if volume is not None and volume.values:
        body["volume"] = QUIET_LEVEL if QUIET_LEVEL in volume.values else volume.values[0]
    if "duration" in exposures:
        body["duration"] = CHIME_S
    body["alarm"] = found.value_on
    return body
