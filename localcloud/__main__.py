"""`python -m localcloud up|demo`: run the pipeline on this machine (see README)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from localcloud.cloud import LocalCloud

ROOT = Path(__file__).resolve().parent.parent


def serve(state_dir: Path, cdk_out: Path) -> int:
    """Run the local cloud in the foreground until SIGTERM or Ctrl-C."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cloud = LocalCloud(state_dir, cdk_out)
    try:
        cloud.start()
        print(f"local cloud up; endpoints in {state_dir / 'env'} (Ctrl-C to stop)", flush=True)
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping the local cloud ...", flush=True)
        cloud.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("serve", help="run the local cloud in the foreground")
    up.add_argument("--state-dir", type=Path, default=ROOT / ".localcloud")
    up.add_argument("--cdk-out", type=Path, default=ROOT / "cdk.out")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.state_dir, args.cdk_out)
    return 2


if __name__ == "__main__":
    sys.exit(main())
