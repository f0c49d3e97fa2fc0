"""Stand-ins the device tests share: the environment of a device `pi` whose certificate, key, CA
and spool are files under a test's folder, a link that acknowledges every publish at once, the
device side of a one-device source, and an LED matrix that records every frame."""

import concurrent.futures
from types import SimpleNamespace

from awscrt import mqtt5


def device_env(tmp_path, **changes):
    """DEVICE_* variables of device `pi` (synthetic source, no rate limit), with `changes`."""
    for name in ("cert.pem", "key.pem", "ca.pem"):
        (tmp_path / name).write_text("pem")
    return {
        "DEVICE_THING_NAME": "pi",
        "DEVICE_SOURCE": "synthetic",
        "DEVICE_MQTT_ENDPOINT": "localhost",
        "DEVICE_MQTT_CERTIFICATE": str(tmp_path / "cert.pem"),
        "DEVICE_MQTT_PRIVATE_KEY": str(tmp_path / "key.pem"),
        "DEVICE_MQTT_CA": str(tmp_path / "ca.pem"),
        "DEVICE_SPOOL_PATH": str(tmp_path / "spool.db"),
        "DEVICE_PUBLISH_RATE_PER_SECOND": "0",
        **changes,
    }


class AckingLink:
    """Connected from the start; acknowledges every publish at once and keeps its payload."""

    def __init__(self, thing):
        self.thing_name = thing
        self.topic = f"sensors/{thing}/telemetry"
        self.connected = True
        self.sent = []

    def start(self):
        pass

    def stop(self):
        pass

    def publish(self, payload):
        self.sent.append(payload)
        future = concurrent.futures.Future()
        code = mqtt5.PubackReasonCode.SUCCESS
        future.set_result(SimpleNamespace(puback=SimpleNamespace(reason_code=code)))
        return future


class OnePiSource:
    """The device side of a source of device `pi` alone, without LEDs; subclasses give items()."""

    def device_ids(self):
        return ["pi"]

    def led_matrix(self):
        return None

    def close(self):
        pass


class CountingMatrix:
    """An LED matrix that records each frame it is given (None for a clear)."""

    def __init__(self):
        self.frames = []

    def set_pixels(self, pixel_list):
        self.frames.append(pixel_list)

    def clear(self):
        self.frames.append(None)
