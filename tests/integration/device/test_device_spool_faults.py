"""`python -m device publish` when its spool file fails under it, made for real: the file
deleted, its folder remounted read-only, its file system full (the last two in a private mount
namespace of the publisher, so nothing outside the test sees them). Each time the publisher
stops with exit code 74 (the systemd unit restarts on it) and one error line that names the file
and the reason."""

import shutil
import subprocess
import time

import pytest
from device_harness import run_device, start_publisher, write_config

pytestmark = pytest.mark.integration

STREAM = "[synthetic]\ncount = 0\ninterval_seconds = 0.01\nspeed = 1\n"  # 100 readings a second
FEW = "[synthetic]\ncount = {count}\nspeed = 0\n"
EXIT_SPOOL = 74


def wait_exit(process, timeout=60):
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def error_lines(log):
    return [line for line in log.read_text().splitlines() if " ERROR " in line]


def in_mount_namespace(setup):
    """A command prefix: a private mount namespace where `setup` (shell) runs first."""
    if not shutil.which("unshare"):
        pytest.skip("unshare is not installed")
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, check=False
    )
    if probe.returncode:
        pytest.skip(f"no private mount namespace here: {probe.stderr.decode().strip()}")
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        f'{setup} && exec "$@"',
        "sh",
    ]


def spool_in(config, folder):
    """Move the config's spool into `folder`; returns the spool's path."""
    folder.mkdir()
    path = folder / "spool.db"
    text = config.read_text()
    start = text.index('path = "', text.index("[spool]"))
    end = text.index("\n", start)
    config.write_text(text[:start] + f'path = "{path}"' + text[end:])
    return path


def test_a_spool_deleted_while_publishing_stops_it_and_a_restart_goes_on(
    tmp_path, broker, ca, observer
):
    config = write_config(tmp_path / "c.toml", broker, ca, "dev-a", "synthetic", extra=STREAM)
    spool = tmp_path / "spool-dev-a.db"
    log = tmp_path / "publisher.log"
    publisher = start_publisher(config, log)
    observer.wait_for(lambda: len(observer.distinct("dev-a")) >= 50)
    spool.unlink()
    assert wait_exit(publisher) == EXIT_SPOOL, log.read_text()
    (line,) = error_lines(log)
    assert f"spool {spool}: cannot " in line
    assert "the file was deleted while the publisher had it open" in line
    assert "Stopping (exit 74)" in line
    # as the systemd unit does: start it again; a new spool, and seq goes on above the old ones
    before = max(observer.distinct("dev-a"))
    restarted = start_publisher(config, log)
    try:
        observer.wait_for(lambda: max(observer.distinct("dev-a")) > before + 50)
        assert "backlog:" in run_device("status", "--config", str(config)).stdout
    finally:
        restarted.terminate()
        assert wait_exit(restarted) == 0


def test_a_spool_on_a_read_only_file_system_stops_the_publisher(tmp_path, broker, ca, observer):
    # A mount with files open for writing cannot be made read-only (EBUSY), so this is the
    # restart after the kernel remounted the SD card read-only: the spool is there, unwritable.
    config = write_config(
        tmp_path / "c.toml", broker, ca, "dev-a", "synthetic", extra=FEW.format(count=20)
    )
    folder = tmp_path / "state"
    spool = spool_in(config, folder)
    assert run_device("publish", "--config", str(config)).returncode == 0
    observer.wait_for(lambda: len(observer.distinct("dev-a")) == 20)
    setup = f"mount --bind {folder} {folder} && mount -o remount,ro,bind {folder}"
    log = tmp_path / "publisher.log"
    publisher = start_publisher(config, log, in_mount_namespace(setup))
    assert wait_exit(publisher) == EXIT_SPOOL, log.read_text()
    (line,) = log.read_text().splitlines()
    assert line.startswith(f"error: spool {spool}: cannot open it: attempt to write a readonly")
    assert line.endswith(f"a test write in {folder} failed: Read-only file system (EROFS)")
    assert len(observer.distinct("dev-a")) == 20


def test_a_full_file_system_stops_the_publisher(tmp_path, broker, ca):
    config = write_config(tmp_path / "c.toml", broker, ca, "dev-a", "synthetic")
    folder = tmp_path / "state"
    spool = spool_in(config, folder)
    # no broker (nothing leaves the spool) and sampling as fast as possible: 1 MiB fills quickly
    text = config.read_text().replace(f"port = {broker.port}", "port = 1")
    config.write_text(text + "[synthetic]\ncount = 0\nspeed = 0\n")
    prefix = in_mount_namespace(f"mount -t tmpfs -o size=1m tmpfs {folder}")
    log = tmp_path / "publisher.log"
    began = time.monotonic()
    publisher = start_publisher(config, log, prefix)
    assert wait_exit(publisher, 120) == EXIT_SPOOL, log.read_text()
    print(f"1 MiB of spool full after {time.monotonic() - began:.1f} s")
    (line,) = [x for x in error_lines(log) if "cannot connect" not in x]
    assert f"spool {spool}: cannot " in line
    assert "database or disk is full (SQLITE_FULL)" in line
    assert "KiB of 1024 KiB free" in line
