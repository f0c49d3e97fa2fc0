"""A real mosquitto with mutual TLS (certificates from a LocalCA made per test) and an observer
that records what arrives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from device_harness import OBSERVER, Observer

from localcloud.iot.broker import DEFAULT_ACL, MosquittoBroker, reader_acl
from localcloud.iot.ca import LocalCA


@pytest.fixture
def ca(tmp_path: Path) -> LocalCA:
    return LocalCA(tmp_path / "ca")


@pytest.fixture
def broker(tmp_path: Path, ca: LocalCA) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path / "broker", ca, acl=DEFAULT_ACL + reader_acl(OBSERVER)) as b:
        yield b


@pytest.fixture
def observer(broker: MosquittoBroker, ca: LocalCA) -> Iterator[Observer]:
    obs = Observer(broker, ca)
    yield obs
    obs.stop()
