"""The command line: `python -m device <command>`.

- `publish`: sample the configured source and publish every reading (runs until stopped; a
  finite source ends when everything is PUBACKed);
- `check`: validate the settings and files, parse the first rows of a replay with the parser
  `publish` uses (exit 65 when all of them are rejected, as `publish` exits when all rows are),
  connect once, report what is wrong (and whether the broker lets the device subscribe to its
  alerts topic);
- `provision`: create keys and a certificate in AWS IoT Core for this thing (see provision.py);
- `status`: backlog, last PUBACK, connection, counters, alert level (reads the spool file).

Settings come from `--config` / `$DEVICE_CONFIG` / `/etc/sensehat-publisher/config.toml` plus
`DEVICE_*` environment variables (device/config.py). A bad setting prints `error: ...` and exits
with 78 (EX_CONFIG), which the systemd unit does not restart on; a spool file that cannot be
read or written exits with 74 (EX_IOERR), which it restarts on.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from device.config import (
    EXIT_CONFIG,
    ConfigError,
    Settings,
    credentials_for,
    load_settings,
    validate,
)
from device.display import StatusDisplay
from device.provision import ProvisionError, provision
from device.publisher import Publisher
from device.reading import Sample
from device.sources import open_source
from device.sources.replay import EXIT_DATA, ReplaySource
from device.spool import EXIT_SPOOL, SpoolError, SpoolFileError
from device.status import format_status, status_report
from device.transport import EventKind, LinkEvent, MqttLink

log = logging.getLogger("device")


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    validate(settings)
    return settings


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def cmd_publish(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _setup_logging(settings.device.log_level)
    source = open_source(settings)
    try:
        for thing in source.device_ids():
            credentials_for(settings, thing)
        display = StatusDisplay(source.led_matrix() if settings.device.led else None)
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("received %s; stopping", signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        code = Publisher(settings, source, display=display).run(stop)
        if code == 0 and isinstance(source, ReplaySource) and source.all_rejected():
            return EXIT_DATA  # the replay logged one line saying so
        return code
    finally:
        source.close()


CHECK_ROWS = 100


def check_replay(settings: Settings) -> tuple[int, list[str]]:
    """Parse the first `CHECK_ROWS` rows as `publish` would: (exit code, devices found)."""
    source = ReplaySource.from_settings(settings)
    samples = [row for row in source.rows(CHECK_ROWS) if isinstance(row, Sample)]
    if source.all_rejected():
        print(f"error: {source.summary()}", file=sys.stderr)
        return EXIT_DATA, []
    devices = sorted({s.device_id for s in samples if s.device_id})
    print(
        f"ok: replay {source.path}: {len(samples)} of the first {source.rows_read} rows "
        f"parsed, devices {', '.join(devices)}"
    )
    for rejected in source.first_rejections:
        print(
            f"warning: replay {source.path} line {rejected.line} rejected: {rejected.reason}",
            file=sys.stderr,
        )
    return 0, devices


def cmd_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _setup_logging("WARNING")
    thing = settings.device.thing_name or settings.replay.device_name
    if settings.device.source == "replay":
        code, devices = check_replay(settings)
        if code:
            return code
        thing = thing or (devices[0] if devices else "")
    if not thing:
        raise ConfigError("check needs a thing name: set [device] thing_name (DEVICE_THING_NAME)")
    credentials = credentials_for(settings, thing)
    outcome: list[LinkEvent] = []
    suback: list[LinkEvent] = []
    done = threading.Event()
    subscribed = threading.Event()

    def on_event(event: LinkEvent) -> None:
        if event.kind in (EventKind.CONNECTED, EventKind.CONNECT_FAILED):
            outcome.append(event)
            done.set()
        elif event.kind in (EventKind.SUBSCRIBED, EventKind.SUBSCRIBE_FAILED):
            suback.append(event)
            subscribed.set()

    link = MqttLink(thing, settings.mqtt, credentials, on_event)
    link.start()
    try:
        if done.wait(args.timeout) and outcome[0].kind is EventKind.CONNECTED:
            subscribed.wait(min(args.timeout, 10.0))
    finally:
        link.stop()
    where = f"{settings.mqtt.endpoint}:{settings.mqtt.port}"
    if not outcome:
        print(f"error: no answer from {where} within {args.timeout} s", file=sys.stderr)
        return 1
    if outcome[0].kind is EventKind.CONNECT_FAILED:
        print(f"error: {thing} cannot connect: {outcome[0].detail}", file=sys.stderr)
        return 1
    print(f"ok: {thing} connected to {where} with {credentials.certificate}")
    if not suback:
        print(f"warning: no answer to the subscription to {link.alerts_topic}", file=sys.stderr)
    elif suback[0].kind is EventKind.SUBSCRIBE_FAILED:
        print(
            f"warning: the broker refused the subscription to {suback[0].detail}: alerts will "
            "not be shown (the device policy must allow subscribing to its alerts topic); "
            "publishing works",
            file=sys.stderr,
        )
    else:
        print(f"ok: {thing} receives its alerts on {suback[0].detail}")
    return 0


def cmd_provision(args: argparse.Namespace) -> int:
    _setup_logging("INFO")
    result = provision(args.thing_name, args.policy_name, args.out_dir, args.create_thing)
    print(f"certificate {result.certificate_id} attached to thing {result.thing_name}")
    print(f"  certificate: {result.certificate}")
    print(f"  private key: {result.private_key}")
    print("settings for the config file:")
    print("  [device]")
    print(f'  thing_name = "{result.thing_name}"')
    print("  [mqtt]")
    print(f'  endpoint = "{result.endpoint}"')
    print(f'  certificate = "{result.certificate}"')
    print(f'  private_key = "{result.private_key}"')
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    report = status_report(Path(settings.spool.path).expanduser())
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(format_status(report))
    return 0


SCRIPT = "sensehat-publisher"


def build_parser() -> argparse.ArgumentParser:
    # `sensehat-publisher` when installed as a package (device/pyproject.toml)
    prog = SCRIPT if Path(sys.argv[0]).name == SCRIPT else "python -m device"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def with_config(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--config", type=Path, help="TOML settings file")
        return sub

    publish = with_config(commands.add_parser("publish", help="publish readings until stopped"))
    publish.set_defaults(func=cmd_publish)
    check = with_config(commands.add_parser("check", help="check settings and connect once"))
    check.add_argument("--timeout", type=float, default=20.0, help="seconds to wait (20)")
    check.set_defaults(func=cmd_check)
    prov = commands.add_parser("provision", help="create this thing's certificate in AWS IoT")
    prov.add_argument("--thing-name", required=True)
    prov.add_argument("--policy-name", required=True, help="the device policy from the stack")
    prov.add_argument(
        "--out-dir", type=Path, default=Path("/etc/sensehat-publisher"), help="where to write"
    )
    prov.add_argument("--create-thing", action="store_true", help="create a missing thing")
    prov.set_defaults(func=cmd_provision)
    status = with_config(commands.add_parser("status", help="backlog, last PUBACK, connection"))
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=cmd_status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except SpoolFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_SPOOL
    except (ProvisionError, SpoolError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
