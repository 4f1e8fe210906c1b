"""The `[gpio]` section of the hub's configuration: what is wired to the Pi, on which pins.

Apart from `drivers/gpio.py` so that reading the configuration never loads gpiozero.
"""

from pydantic import BaseModel, ConfigDict, Field

from wire.schema import DEVICE_ID_PATTERN


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GpioButtonConfig(_Section):
    """A button wired to the Pi: the BCM `pin` and the `[[devices]]` entry it speaks for."""

    pin: int = Field(ge=0, le=53)
    device: str = Field(pattern=DEVICE_ID_PATTERN)


class GpioSettings(_Section):
    """`[gpio]`: a pull-cord or big button, the hub's cancel button, a status light, a buzzer.

    On a machine without GPIO the hub starts with GPIO disabled and says so once.
    """

    enabled: bool = True
    cord: GpioButtonConfig | None = None
    cancel: GpioButtonConfig | None = None
    led_red_pin: int | None = Field(default=None, ge=0, le=53)
    led_green_pin: int | None = Field(default=None, ge=0, le=53)
    buzzer_pin: int | None = Field(default=None, ge=0, le=53)
    bounce_s: float = Field(default=0.05, ge=0.0, le=1.0)
    hold_s: float = Field(default=3.0, ge=0.5, le=30.0)

    @property
    def wanted(self) -> bool:
        """Whether anything is wired at all."""
        pins = (self.cord, self.cancel, self.led_red_pin, self.led_green_pin, self.buzzer_pin)
        return self.enabled and any(p is not None for p in pins)
