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
the same, without the engine's say. The child dies with the process that started it. If the
child ends by itself (a crash, the kernel's OOM killer), a watcher thread logs it and starts it
again (`restarts` counts it), as IoT Core's rules never stop running; readings wait in the
engine's session at the broker meanwhile.
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

log = logging.getLogger(__name__)

STATS_INTERVAL_S = 0.5
WATCH_INTERVAL_S = 0.5
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
        self.restarts = 0  # times the process ended by itself and was started again
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

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

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, timeout: float = STARTUP_S) -> RuleEngineProcess:
        self._stopping.clear()
        with self._lock:
            self._spawn(timeout)
        self._watcher = threading.Thread(target=self._watch, name="rule-engine-watch", daemon=True)
        self._watcher.start()
        return self

    def stop(self) -> None:
        """SIGTERM: the engine stops taking messages and writes its last stats."""
        self._end(kill=False)

    def kill(self) -> None:
        """SIGKILL, as a crash: what the engine had not acknowledged waits at the broker."""
        self._end(kill=True)

    def _spawn(self, timeout: float) -> None:
        """Start the child and wait until it has subscribed; raises with the log's tail."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.stats_path.unlink(missing_ok=True)
        mqtt = {k: str(v) if isinstance(v, Path) else v for k, v in vars(self.mqtt).items()}
        self.config_path.write_text(json.dumps({"rules": self.rules, "mqtt": mqtt}, indent=1))
        command = [sys.executable, "-m", "localcloud.iot.engine_process", str(self.config_path)]
        with self.log_path.open("ab") as output:
            process = subprocess.Popen(
                dies_with_parent(command),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                process_group=0,
            )
        self._process = process
        deadline = time.monotonic() + timeout
        while not self.stats_path.exists():
            code = process.poll()
            if code is not None or time.monotonic() > deadline:
                process.kill()
                process.wait()
                self._process = None
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(
                    f"the rule engine did not subscribe within {timeout:g}s (exit code {code}); "
                    f"log {self.log_path}:\n{tail}"
                )
            time.sleep(0.05)

    def _watch(self) -> None:
        """Start the engine again whenever its process has ended without `stop` or `kill`."""
        while not self._stopping.wait(WATCH_INTERVAL_S):
            with self._lock:
                process = self._process
                if self._stopping.is_set() or (process is not None and process.poll() is None):
                    continue
                self.restarts += 1
                log.warning(
                    "the rule engine's process ended (exit code %s); starting it again (log %s)",
                    process.returncode if process is not None else "none",
                    self.log_path,
                )
                try:
                    self._spawn(STARTUP_S)
                except RuntimeError as err:
                    log.error("%s", err)

    def _end(self, kill: bool) -> None:
        self._stopping.set()
        with self._lock:
            process, self._process = self._process, None
            if process is not None and kill:
                process.kill()
                process.wait()
            elif process is not None:
                stop_process(process, timeout=60)
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None


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
