"""The topic rule engine in a process of its own, as the local cloud runs it.

IoT Core runs rules beside its broker, apart from Kinesis and Firehose. Locally the engine's MQTT
client must keep reading, acknowledging and pinging while the broker sends it everything queued
for its session at once (mosquitto ignores the receive maximum; see `localcloud.iot.rules`). In
the local cloud's process its client thread waited for the interpreter lock behind the Firehose
workers and the emulated OpenSearch for every message, fell behind, and the broker dropped the
connection and sent every unacknowledged message again. In a process of its own it shares the
lock with its worker only.

`RuleEngineProcess(rules, mqtt, directory)` writes `<directory>/rule-engine.json` (the rules'
resolved `AWS::IoT::TopicRule` properties by name, and the `MqttConnection`) and runs
`python -m localcloud.iot.engine_process <that file>`, its output appended to
`<directory>/rule-engine.log`. `start()` returns once the engine has subscribed, and raises with
the log's tail if it could not (a refused subscription, an unsupported rule, no broker).
The child writes its `EngineStats` to `<directory>/rule-engine-stats.json` every half second and
when it stops; `stats` reads them. `stop()` sends SIGTERM: the engine stops taking messages and
what it has not acknowledged stays in its session at the broker. `kill()` is a crash (SIGKILL):
the same, without the engine's say. The child dies with the process that started it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from localcloud.core.service import Service, dies_with_parent, stop_process
from localcloud.iot.rules import EngineStats, MqttConnection, TopicRuleConfig, TopicRuleEngine

STATS_INTERVAL_S = 0.5
STARTUP_S = 60.0
CONFIG_FILE, STATS_FILE, LOG_FILE = "rule-engine.json", "rule-engine-stats.json", "rule-engine.log"


class RuleEngineProcess(Service):
    """The engine as a child process; a context manager."""

    def __init__(
        self, rules: Mapping[str, Mapping[str, Any]], mqtt: MqttConnection, directory: Path
    ) -> None:
        self.rules = dict(rules)
        self.mqtt = mqtt
        self.directory = directory
        self.config_path = directory / CONFIG_FILE
        self.stats_path = directory / STATS_FILE
        self.log_path = directory / LOG_FILE
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def stats(self) -> EngineStats:
        """The engine's counters as it last wrote them (all zero before it has)."""
        try:
            return EngineStats(**json.loads(self.stats_path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return EngineStats()

    def start(self, timeout: float = STARTUP_S) -> RuleEngineProcess:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.stats_path.unlink(missing_ok=True)
        mqtt = {k: str(v) if isinstance(v, Path) else v for k, v in vars(self.mqtt).items()}
        self.config_path.write_text(json.dumps({"rules": self.rules, "mqtt": mqtt}, indent=1))
        command = [sys.executable, "-m", "localcloud.iot.engine_process", str(self.config_path)]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                dies_with_parent(command),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                process_group=0,
            )
        deadline = time.monotonic() + timeout
        while not self.stats_path.exists():
            code = self._process.poll()
            if code is not None or time.monotonic() > deadline:
                self.kill()
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(
                    f"the rule engine did not subscribe within {timeout:g}s (exit code {code}); "
                    f"log {self.log_path}:\n{tail}"
                )
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """SIGTERM: the engine stops taking messages and writes its last stats."""
        if self._process is not None:
            stop_process(self._process, timeout=60)
            self._process = None

    def kill(self) -> None:
        """SIGKILL, as a crash: what the engine had not acknowledged waits at the broker."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


def write_stats(stats: EngineStats, path: Path) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(dataclasses.asdict(stats)), encoding="utf-8")
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> None:
    [config_path] = argv if argv is not None else sys.argv[1:]
    path = Path(config_path)
    config = json.loads(path.read_text(encoding="utf-8"))
    rules = [
        TopicRuleConfig.from_cfn_properties(props, name=name)
        for name, props in config["rules"].items()
    ]
    fields = {f.name: f.type for f in dataclasses.fields(MqttConnection)}
    mqtt = MqttConnection(
        **{k: Path(v) if fields[k] == "Path" else v for k, v in config["mqtt"].items()}
    )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()

    def on_signal(_number: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stats_path = path.with_name(STATS_FILE)
    with TopicRuleEngine(rules, mqtt) as engine:
        write_stats(engine.stats, stats_path)  # the parent's sign that it has subscribed
        while not stop.wait(STATS_INTERVAL_S):
            write_stats(engine.stats, stats_path)
    write_stats(engine.stats, stats_path)


if __name__ == "__main__":
    main()
