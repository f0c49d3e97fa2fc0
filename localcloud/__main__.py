"""`python -m localcloud serve|up|down|demo|load`: run the pipeline on this machine (see README)."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import demo.load
import demo.run
from demo.progress import Narrator
from localcloud.cloud import LocalCloud
from localcloud.dashboards.server import ENDPOINT_VARIABLE as DASHBOARDS_URL
from localcloud.iot.device_configs import DEVICES_DIR

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".localcloud"


def serve(state_dir: Path, cdk_out: Path) -> int:
    """Run the local cloud in the foreground until SIGTERM or Ctrl-C."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cloud = LocalCloud(state_dir, cdk_out)
    try:
        cloud.start()
        (state_dir / "pid").write_text(str(os.getpid()))
        print(f"local cloud up; endpoints in {state_dir / 'env'}", flush=True)
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping the local cloud ...", flush=True)
        cloud.stop()
        (state_dir / "pid").unlink(missing_ok=True)
    return 0


def serving_pid(state_dir: Path) -> int | None:
    """The pid in `state_dir/pid` if that process is alive and is this state directory's
    `python -m localcloud serve`; None otherwise (no file, a crashed cloud, a reused pid)."""
    try:
        pid = int((state_dir / "pid").read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    words = [word.decode(errors="replace") for word in command]
    if "localcloud" not in words or "serve" not in words:
        return None
    if "--state-dir" in words:
        named = words[words.index("--state-dir") + 1 :][:1]
        if not named or Path(named[0]).resolve() != state_dir.resolve():
            return None
    return pid


def clear_stale_pid(state_dir: Path) -> None:
    """Remove a pid file that no longer names this local cloud, saying so."""
    pid_file = state_dir / "pid"
    if pid_file.exists() and serving_pid(state_dir) is None:
        stale = pid_file.read_text().strip()
        print(
            f"the local cloud that wrote {pid_file} (pid {stale}) is gone; its child processes "
            "died with it; removing the stale pid file"
        )
        pid_file.unlink(missing_ok=True)


def up(state_dir: Path, cdk_out: Path, timeout: float = 300) -> int:
    """Start `serve` in the background and wait until its endpoints are written."""
    clear_stale_pid(state_dir)
    running = serving_pid(state_dir)
    if running is not None:
        print(f"already running (pid {running}); `make down` first")
        return 1
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "env").unlink(missing_ok=True)
    log = (state_dir / "localcloud.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "localcloud",
            "serve",
            "--state-dir",
            str(state_dir),
            "--cdk-out",
            str(cdk_out),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=ROOT,
    )
    deadline = time.monotonic() + timeout
    beats = Narrator(lambda line: print(line, flush=True)).start()
    with beats.step(f"starting the local cloud (its log: {state_dir / 'localcloud.log'})", 30):
        while not (state_dir / "pid").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                beats.close()
                print(f"the local cloud did not start; see {state_dir / 'localcloud.log'}")
                return 1
            time.sleep(0.5)
    beats.close()
    env = (state_dir / "env").read_text()
    print(env, end="")
    for line in env.splitlines():
        if line.startswith(f"{DASHBOARDS_URL}="):
            print(f'live dashboard: {line.partition("=")[2]} (README, "The live dashboard")')
    configs = sorted((state_dir / DEVICES_DIR).glob("*/config.toml"))
    if configs:
        print(
            f"a publisher config for each of {len(configs)} things: "
            f"DEVICE_CONFIG={configs[0]} .venv/bin/python -m device publish"
        )
    print(
        f"local cloud running (pid {process.pid}); `set -a; . {state_dir / 'env'}; set +a` "
        "points the AWS CLI, boto3 and the publisher at it; `make down` stops it"
    )
    return 0


def down(state_dir: Path, timeout: float = 120) -> int:
    pid_file = state_dir / "pid"
    clear_stale_pid(state_dir)
    pid = serving_pid(state_dir)
    if pid is None:
        print("the local cloud is not running")
        return 0
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return 0
    deadline = time.monotonic() + timeout
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    print("local cloud stopped" if not pid_file.exists() else "still stopping; check its log")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("serve", "run in the foreground"), ("up", "run in the background")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--state-dir", type=Path, default=STATE)
        command.add_argument("--cdk-out", type=Path, default=ROOT / "cdk.out")
    stop = sub.add_parser("down", help="stop the background local cloud")
    stop.add_argument("--state-dir", type=Path, default=STATE)
    run = sub.add_parser("demo", help="replay the Sense HAT log through the whole pipeline")
    run.add_argument("--rows", type=int, default=None, help="replay only the first N rows")
    run.add_argument("--state-dir", type=Path, default=STATE / "demo")
    run.add_argument("--out", type=Path, default=ROOT / "out")
    run.add_argument(
        "--fleet", action="store_true", help="and a synthetic fleet in named places (FLEET=1)"
    )
    load = sub.add_parser("load", help="a fleet of simulated devices through the whole pipeline")
    load.add_argument("--devices", type=int, default=10)
    load.add_argument("--rate-hz", type=float, default=1.0, help="readings per second per device")
    load.add_argument("--minutes", type=float, default=1.0)
    load.add_argument("--state-dir", type=Path, default=STATE / "load")
    load.add_argument(
        "--spools-in-memory",
        action="store_true",
        help="the devices' spools in /dev/shm: no fsync to one shared disk (README, Load)",
    )
    args = parser.parse_args(argv)
    if args.command == "load":
        shutil.rmtree(args.state_dir, ignore_errors=True)  # every load run starts from nothing
        return demo.load.main(
            args.devices, args.rate_hz, args.minutes, args.state_dir, args.spools_in_memory
        )
    if args.command == "serve":
        return serve(args.state_dir, args.cdk_out)
    if args.command == "up":
        return up(args.state_dir, args.cdk_out)
    if args.command == "down":
        return down(args.state_dir)
    shutil.rmtree(args.state_dir, ignore_errors=True)  # every demo starts from nothing
    return demo.run.main(args.rows, args.state_dir, args.out, args.fleet)


if __name__ == "__main__":
    sys.exit(main())
