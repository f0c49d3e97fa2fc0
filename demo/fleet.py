"""`python -m demo.fleet <devices.json>`: many devices in one process, for the load run.

Each device is the real publisher (`device.publisher.Publisher`) with its own settings, spool,
certificate and MQTT connection, sampling the `synthetic` source at its own rate; one thread
each. `devices.json` holds one object of `DEVICE_*` settings per device (what `python -m device
publish` reads from its environment). The process ends when every publisher has ended (each
ends once its `DEVICE_SYNTHETIC_COUNT` readings are acknowledged) or on SIGTERM.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from device.config import load_settings, validate
from device.publisher import Publisher
from device.sources import open_source


def run_device(environ: dict[str, str], stop: threading.Event, codes: dict[str, int]) -> None:
    settings = load_settings(None, environ)
    validate(settings)
    source = open_source(settings)
    try:
        codes[settings.device.thing_name] = Publisher(settings, source).run(stop)
    finally:
        source.close()


def main(argv: list[str]) -> int:
    devices: list[dict[str, str]] = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()

    def on_signal(_number: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    codes: dict[str, int] = {}
    threads = [
        threading.Thread(target=run_device, args=(env, stop, codes), name=env["DEVICE_THING_NAME"])
        for env in devices
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = {thing: code for thing, code in codes.items() if code != 0}
    if failed or len(codes) < len(devices):
        print(f"publishers failed: {failed}; {len(devices) - len(codes)} raised", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
