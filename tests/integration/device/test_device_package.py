"""`pip install ./device`: the wheel holds the package `device`, its example settings and unit,
and the `sensehat-publisher` script; installed into a fresh virtualenv, away from the repository,
the script answers `--help` and publishes synthetic readings to the local broker.

The fresh virtualenv gets the package from the wheel and its dependencies (awsiotsdk, boto3)
from the project's virtualenv through a `.pth` file, so the test needs no network."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from device_harness import write_config

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
NAME = re.compile(r"[<>=!~;\s\[]")  # what ends a requirement's project name


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of a copy of device/ (the build writes into its source folder)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "device"
    shutil.copytree(
        ROOT / "device",
        source,
        ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"),
    )
    quiet = ["--disable-pip-version-check", "--quiet"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            *quiet,
            str(source),
            "-w",
            str(work / "dist"),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = (work / "dist").glob("*.whl")
    return built


def test_the_wheel_holds_the_package_and_the_script(wheel: Path) -> None:
    assert wheel.name == "sensehat_publisher-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = "sensehat_publisher-0.1.0.dist-info"
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "device").rglob("*.py")}
    assert modules <= names
    assert {"device/config.example.toml", "device/sensehat-publisher.service"} <= names
    assert not any(name.startswith(("localcloud/", "cdk_app/", "tests/")) for name in names)
    assert "[console_scripts]\nsensehat-publisher = device.cli:main" in entry_points
    required = {NAME.split(r)[0] for r in metadata.get_all("Requires-Dist") if "extra" not in r}
    pinned = {
        NAME.split(line)[0]
        for line in (ROOT / "device" / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert pinned == required == {"awsiotsdk", "boto3"}


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed; its bin folder."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    packages = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (packages / "project-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            "--quiet",
            str(wheel),
        ],
        check=True,
    )
    return venv / "bin"


def outside_the_repository() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith("DEVICE_") and k != "PYTHONPATH"
    }


def test_the_installed_script_runs_from_its_own_package(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [str(installed / "python"), "-c", "import device; print(device.__file__)"],
        cwd=tmp_path,
        env=outside_the_repository(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(installed.parent))
    done = subprocess.run(
        [str(installed / "sensehat-publisher"), "--help"],
        cwd=tmp_path,
        env=outside_the_repository(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: sensehat-publisher ")
    for command in ("publish", "check", "provision", "status"):
        assert command in done.stdout


def test_the_installed_script_publishes_to_the_local_broker(
    installed: Path, tmp_path: Path, broker, ca, observer
) -> None:
    config = write_config(
        tmp_path / "c.toml",
        broker,
        ca,
        "dev-a",
        "synthetic",
        extra="[synthetic]\ncount = 20\nspeed = 0\n",
    )
    done = subprocess.run(
        [str(installed / "sensehat-publisher"), "publish", "--config", str(config)],
        cwd=tmp_path,
        env=outside_the_repository(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    observer.wait_for(lambda: len(observer.distinct("dev-a")) == 20)
