"""`make demo`: the real Sense HAT log through the whole pipeline on this machine.

Synthesizes the CDK app (with shorter buffers, so the demo takes minutes instead of hours),
brings the local cloud up, provisions a device certificate from the local CA, replays the
Astro Pi log through the device publisher over MQTT with mutual TLS, waits until every reading
is delivered, compacted and indexed, runs the analysis SQL through the local Athena endpoint,
writes the results to `out/`, and ends with one line accounting for every reading.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tqdm import tqdm

from demo import interrupt, places, report
from demo.accounting import (
    Tally,
    athena_query,
    compacted_tally,
    count_objects,
    invalid_records,
    raw_readings,
    search_tally,
)
from demo.alert_accounting import (
    AlertInbox,
    AlertTally,
    alert_history,
    retained_alert,
    tally,
)
from demo.progress import Bars, Narrator
from localcloud.cloud import STACK, LocalCloud
from localcloud.dashboards.server import ENDPOINT_VARIABLE as DASHBOARDS_URL
from localcloud.firehose.resources import Firehose
from localcloud.iot.resources import IotCore
from localcloud.lambda_.resources import LambdaFunctions, LambdaTriggers

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT / "data" / "astropi" / "astro_pi_data_20150824_085954.csv"
# The demo's only departures from cdk.json: buffers of one second and a one-minute tail, so
# that the log is compacted within minutes. Everything else comes from cdk.json.
DEMO_CONTEXT = {
    "rawBufferSeconds": 1,
    "searchBufferSeconds": 1,
    "compactionMaxAgeMinutes": 1,
    "compactionScheduleMinutes": 1,
}


STAGES = ("published", "raw", "search", "compacted", "alerter")
TAIL = {key: DEMO_CONTEXT[key] for key in ("compactionMaxAgeMinutes", "compactionScheduleMinutes")}
COMPACTOR_HANDLER = "compactor.handler.lambda_handler"
# The compactor's "compact now" event (lambdas/compactor/compactor/service.py, COMPACT_PENDING).
COMPACT_PENDING = {"action": "compact-pending"}
# Following the pipeline: counts are checked every second and shown every five.
CHECK_EVERY = 1.0
SHOW_EVERY = 5.0
COUNT_EVERY_WHILE_PUBLISHING = 15.0
COUNT_EVERY_WHEN_DELIVERED = 2.0
ASK_TO_COMPACT_EVERY = 5.0


@dataclass(frozen=True)
class Summary:
    published: int
    raw: int
    compacted: int
    search: int
    lost: int
    duplicates: int
    search_repeats: int
    raw_repeats: int
    invalid: int
    alerts: AlertTally | None = None

    def line(self) -> str:
        return (
            f"SUMMARY published={self.published} raw={self.raw} compacted={self.compacted} "
            f"search={self.search} lost={self.lost} duplicates={self.duplicates}"
        )

    def lines(self) -> list[str]:
        return [self.line()] + ([self.alerts.line()] if self.alerts else [])


def synthesize(cdk_out: Path, context: dict[str, Any]) -> None:
    """`cdk synth` with the pinned CLI, as `make synth`, into `cdk_out`."""
    overrides = [arg for key, value in context.items() for arg in ("-c", f"{key}={value}")]
    env = {
        **os.environ,
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "PATH": os.pathsep.join(
            [
                str(Path(sys.executable).parent),
                str(ROOT / "node_modules" / ".bin"),
                os.environ["PATH"],
            ]
        ),
    }
    command = ["cdk", "--no-notices", "synth", "--quiet", "-o", str(cdk_out), *overrides]
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def replay_file(rows: int | None, directory: Path) -> tuple[Path, int]:
    """The shipped log, or its first `rows` rows; and how many readings it holds."""
    with LOG.open(newline="", encoding="utf-8") as source:
        reader = csv.reader(source)
        header = next(reader)
        data = (
            list(reader)
            if rows is None
            else [row for _, row in zip(range(rows), reader, strict=False)]
        )
    if rows is None:
        return LOG, len(data)
    path = directory / f"replay-{rows}.csv"
    with path.open("w", newline="", encoding="utf-8") as target:
        writer = csv.writer(target)
        writer.writerow(header)
        writer.writerows(data)
    return path, len(data)


def dashboard_url(env: dict[str, str], replay: Path) -> str:
    """The local dashboard over the replayed log's hours (its saved range is the last 7 days)."""
    with replay.open(newline="", encoding="utf-8") as source:
        stamps = [row["time_stamp"] for row in csv.DictReader(source)]
    first, last = (
        datetime.fromisoformat(t).replace(tzinfo=UTC) for t in (min(stamps), max(stamps))
    )
    span = (
        first.replace(minute=0, second=0),
        last.replace(minute=0, second=0) + timedelta(hours=1),
    )
    start, end = (moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in span)
    return f"{env[DASHBOARDS_URL]}?from={start}&to={end}"


def telemetry_topic(cloud: LocalCloud) -> str:
    """The stack's TelemetryTopic output: the Basic Ingest topic its devices publish to, with
    `{thing}` for the thing name (as `cdk deploy --outputs-file` would give it)."""
    outputs = json.loads((cloud.state_dir / "outputs.json").read_text(encoding="utf-8"))
    return str(outputs[cloud.stack]["TelemetryTopic"])


def publisher_env(cloud: LocalCloud, thing: str, replay: Path, spool: Path) -> dict[str, str]:
    credentials = cloud.service(IotCore).credentials(thing)
    endpoints = cloud.env()
    return {
        **os.environ,
        "DEVICE_THING_NAME": thing,
        "DEVICE_SOURCE": "replay",
        "DEVICE_LED": "false",
        "DEVICE_MQTT_ENDPOINT": endpoints["MQTT_HOST"],
        "DEVICE_MQTT_PORT": endpoints["MQTT_PORT"],
        # Through Basic Ingest to the deployed rule, as a device configured from the outputs.
        "DEVICE_MQTT_TOPIC": telemetry_topic(cloud),
        "DEVICE_MQTT_CERTIFICATE": str(credentials.certificate),
        "DEVICE_MQTT_PRIVATE_KEY": str(credentials.private_key),
        "DEVICE_MQTT_CA": str(credentials.ca),
        # No IoT Core limit on a local broker: publish as fast as the pipeline takes it.
        "DEVICE_MQTT_IOT_CORE_FLOW_CONTROL": "false",
        "DEVICE_PUBLISH_RATE_PER_SECOND": "0",
        "DEVICE_SPOOL_PATH": str(spool),
        "DEVICE_REPLAY_PATH": str(replay),
        "DEVICE_REPLAY_SPEED": "0",
    }


def spool_status(spool: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "device", "status", "--json"],
        env={**os.environ, "DEVICE_SPOOL_PATH": str(spool)},
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        process_group=0,  # a Ctrl-C interrupts the demo, not this short read
    )
    return dict(json.loads(result.stdout)) if result.returncode == 0 else {}


def pubacks(spools: list[Path]) -> int:
    """Readings the broker acknowledged, over the publishers' spools."""
    return sum(int(spool_status(spool).get("pubacks", 0)) for spool in spools)


class Demo:
    def __init__(
        self,
        state_dir: Path,
        out_dir: Path,
        rows: int | None = None,
        compact_pending: bool = False,
        fleet: bool = False,
    ) -> None:
        """compact_pending: once everything is delivered, ask the compactor to compact what is
        pending now (`{"action": "compact-pending"}`) instead of waiting for the tail. fleet: a
        synthetic fleet in named places publishes as well (demo/places.py)."""
        self.state_dir = state_dir
        self.out_dir = out_dir
        self.rows = rows
        self.compact_pending = compact_pending
        self._asked_to_compact = 0.0
        self.fleet = fleet
        self.cloud: LocalCloud | None = None
        self.inbox: AlertInbox | None = None
        self.alert_rows: list[list[str]] = []  # out/alerts.csv, header first
        self.interrupted = False  # by Ctrl-C while publishing (said so)
        self._delivered_at: float | None = None  # when raw/ held every published reading

    def run(self, timeout: float = 1800) -> Summary:
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        cdk_out = self.state_dir / "cdk.out"
        NARRATOR.start()
        context = {**DEMO_CONTEXT, **(places.fleet_context() if self.fleet else {})}
        say(f"synthesizing with {context} into {cdk_out}")
        with NARRATOR.step("synthesizing the CDK app (cdk synth)", expected_s=60):
            synthesize(cdk_out, context)
        self.cloud = LocalCloud(self.state_dir / "cloud", cdk_out, STACK, log=say)
        with NARRATOR.step("starting the local cloud and deploying the template", 30):
            self.cloud.start()
        deployment = self.cloud.deployment
        assert deployment is not None
        thing = self._log_thing()
        self.inbox = AlertInbox(self._names()["alert_topic"]).subscribe()
        replay, expected = replay_file(self.rows, self.state_dir)
        spool = self.state_dir / "spool.db"
        say(f"live dashboard: {dashboard_url(self.cloud.env(), replay)}")
        say(f"replaying {expected} readings of {replay.name} as {thing} over MQTT (mTLS)")
        publisher = subprocess.Popen(
            [sys.executable, "-m", "device", "publish"],
            env=publisher_env(self.cloud, thing, replay, spool),
            cwd=ROOT,
            stdout=(self.state_dir / "publisher.log").open("wb"),
            stderr=subprocess.STDOUT,
            process_group=0,  # a Ctrl-C reaches the demo only, which stops the publisher first
        )
        publishers, spools = [publisher], [spool]
        if self.fleet:
            fleet_file = self.state_dir / "fleet.json"
            settings = places.fleet_settings(self.cloud.state_dir)
            fleet_file.write_text(json.dumps(settings, indent=1), encoding="utf-8")
            expected += places.COUNT * len(settings)
            say(
                f"and a fleet of {len(settings)} synthetic devices in "
                f"{len(places.ROOMS)} rooms, {places.COUNT} readings each"
            )
            spools += [places.spool(self.cloud.state_dir, t) for t in places.fleet_things()]
            publishers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "demo.fleet", str(fleet_file)],
                    cwd=ROOT,
                    stdout=(self.state_dir / "fleet.log").open("wb"),
                    stderr=subprocess.STDOUT,
                    process_group=0,
                )
            )
        try:
            return self._follow(publishers, spools, expected, started + timeout)
        except KeyboardInterrupt:
            NARRATOR.close()
            self.interrupted = True
            say("interrupted: stopping the publisher, then the local cloud")
            raise
        finally:
            NARRATOR.close()
            for running in publishers:
                if running.poll() is None:
                    say("stopping the publisher (it keeps what it has not sent in its spool)")
                    running.terminate()
                    running.wait(timeout=30)

    def _follow(
        self,
        publishers: list[subprocess.Popen[bytes]],
        spools: list[Path],
        expected: int,
        deadline: float,
    ) -> Summary:
        assert self.cloud is not None
        names = self._names()
        bars = Bars(STAGES, expected, say)
        with NARRATOR.step("following the pipeline"):
            try:
                self._wait(publishers, spools, expected, deadline, names, bars)
            finally:
                bars.close()
        if any(p.poll() not in (None, 0) for p in publishers):
            raise RuntimeError(f"a publisher failed; see {self.state_dir}/publisher.log, fleet.log")
        with NARRATOR.step("accounting for every reading (S3, Athena, OpenSearch)", 30):
            summary = self._account(names, pubacks(spools))
            summary = self._with_alerts(summary, names, self._device_level(names))
        with NARRATOR.step("running the analysis SQL and drawing the report", 30):
            self._write_results(names, summary)
        return summary

    def _wait(
        self,
        publishers: list[subprocess.Popen[bytes]],
        spools: list[Path],
        expected: int,
        deadline: float,
        names: dict[str, str],
        bars: Bars,
    ) -> None:
        """Until every reading is delivered, compacted and evaluated by the alerter (or the
        deadline): the counts every few seconds, and what is waited for."""
        assert self.cloud is not None
        compacted = Tally(0, 0)
        last_query = last_shown = 0.0
        while time.monotonic() < deadline:
            interrupt.raise_if_interrupted()
            published = pubacks(spools)
            running = any(p.poll() is None for p in publishers)
            raw = sum(
                w.counters.records_delivered
                for w in self.cloud.service(Firehose).workers.values()
                if w.config.name == names["raw_stream"]
            )
            search = sum(
                w.counters.records_delivered
                for w in self.cloud.service(Firehose).workers.values()
                if w.config.name == names["search_stream"]
            )
            # The compacted table is counted with an Athena query: seldom while readings arrive,
            # often once they all are (only compaction is left then, and each second waited is a
            # second of `make demo` and of the tests).
            query_every = COUNT_EVERY_WHILE_PUBLISHING if running else COUNT_EVERY_WHEN_DELIVERED
            if time.monotonic() - last_query > query_every and raw >= published > 0:
                compacted = compacted_tally(names["database"], names["table"], names["workgroup"])
                last_query = time.monotonic()
            evaluated = self._evaluated_by_alerter()
            counts = dict(
                zip(STAGES, (published, raw, search, compacted.unique, evaluated), strict=True)
            )
            waiting = self._waiting_for(running, counts)
            NARRATOR.phase(*waiting)
            left = waiting[1]() if waiting[1] else None
            note = f"publisher {'running' if running else 'done'}"
            if not running and waiting[0]:
                note += f"; {waiting[0]}" + (f", up to {left:.0f} s left" if left else "")
            done = not running and published >= expected
            finished = done and compacted.unique >= published and evaluated >= published
            if finished or time.monotonic() - last_shown >= SHOW_EVERY:
                bars.update(counts, note)
                last_shown = time.monotonic()
            if finished:
                return
            time.sleep(CHECK_EVERY)
        say("timed out waiting for the pipeline; accounting for what arrived")

    def _waiting_for(
        self, running: bool, counts: dict[str, int]
    ) -> tuple[str, Callable[[], float | None] | None]:
        """What the demo waits for now, and how to tell the seconds left when it can."""
        published = counts["published"]
        if running:
            return "publishing (the device publisher over MQTT)", None
        if counts["raw"] < published:
            return "waiting for Firehose delivery to S3 and OpenSearch", None
        if self._delivered_at is None:
            self._delivered_at = time.monotonic()
        if counts["compacted"] < published and self.compact_pending:
            self._ask_to_compact()
            return "compacting what is pending (asked with compact-pending)", None
        if counts["compacted"] < published:
            return "waiting for the compaction tail", self._tail_left
        return ("waiting for the alerter" if counts["alerter"] < published else ""), None

    def _tail_left(self) -> float | None:
        """The last raw files are compacted by the compactor's schedule once they are older than
        the maximum age: at most that age plus one schedule period after the last delivery
        (and the next count of the compacted table)."""
        if self._delivered_at is None:
            return None
        tail = 60 * (TAIL["compactionMaxAgeMinutes"] + TAIL["compactionScheduleMinutes"])
        bound = tail + COUNT_EVERY_WHEN_DELIVERED
        return max(self._delivered_at + bound - time.monotonic(), 0.0)

    def _ask_to_compact(self) -> None:
        """Invoke the compactor with `compact-pending` (asynchronously, again every
        ASK_TO_COMPACT_EVERY s: the last S3 notifications may still be on their way to it)."""
        assert self.cloud is not None
        if time.monotonic() - self._asked_to_compact < ASK_TO_COMPACT_EVERY:
            return
        self._asked_to_compact = time.monotonic()
        functions = self.cloud.service(LambdaFunctions).functions.values()
        compactor = next(f for f in functions if f.config.handler == COMPACTOR_HANDLER)
        compactor.invoke_async(COMPACT_PENDING)

    def _device_level(self, names: dict[str, str]) -> str:
        """The level the device shows when it connects: its retained alert, read as the device."""
        assert self.cloud is not None
        iot = self.cloud.service(IotCore)
        thing = self._log_thing()
        endpoints = self.cloud.env()
        alert = retained_alert(
            endpoints["MQTT_HOST"],
            int(endpoints["MQTT_PORT"]),
            iot.credentials(thing),
            names["alerts_topic"].format(thing=thing),
        )
        return "normal" if alert is None else str(alert["device_level"])

    def _log_thing(self) -> str:
        """The thing that replays the real log: the stack's first, or the fleet's Sense HAT."""
        assert self.cloud is not None
        return places.LOG_DEVICE[0] if self.fleet else self.cloud.service(IotCore).thing_names()[0]

    def _evaluated_by_alerter(self) -> int:
        """Stream records the alerter has finished with (evaluated, or given up after retries)."""
        assert self.cloud is not None
        return sum(
            s.stats.records_succeeded + s.stats.records_given_up + s.stats.records_discarded
            for s in self.cloud.service(LambdaTriggers).event_sources.values()
        )

    def _with_alerts(self, summary: Summary, names: dict[str, str], device_level: str) -> Summary:
        assert self.inbox is not None
        alerts = alert_history(names["bucket"], names["alerts_prefix"])
        notified = len(self.inbox.drain())
        result = replace(summary, alerts=tally(alerts, notified, device_level))
        fields = ["ts", "device_id", "metric", "transition", "level", "value", "threshold"]
        self.alert_rows = [
            fields,
            *(["" if alert[f] is None else str(alert[f]) for f in fields] for alert in alerts),
        ]
        with (self.out_dir / "alerts.csv").open("w", newline="") as target:
            csv.writer(target).writerows(self.alert_rows)
        say(f"{len(alerts)} alerts -> out/alerts.csv")
        return result

    def _names(self) -> dict[str, str]:
        """What the demo reads, found in the deployment (no names typed here)."""
        assert self.cloud is not None
        deployment = self.cloud.deployment
        assert deployment is not None
        functions = deployment.runtime["AWS::Lambda::Function"].values()
        compactor = next(f for f in functions if f["Handler"] == COMPACTOR_HANDLER)["Environment"][
            "Variables"
        ]
        alerter = next(f for f in functions if f["Handler"] == "alerter.handler.lambda_handler")[
            "Environment"
        ]["Variables"]
        streams = deployment.runtime["AWS::KinesisFirehose::DeliveryStream"]
        raw_stream = next(p for p in streams.values() if "ExtendedS3DestinationConfiguration" in p)
        search_stream = next(
            p for p in streams.values() if "AmazonopensearchserviceDestinationConfiguration" in p
        )
        index = search_stream["AmazonopensearchserviceDestinationConfiguration"]["IndexName"]
        return {
            "bucket": compactor["DATA_BUCKET"],
            "database": compactor["GLUE_DATABASE"],
            "table": compactor["COMPACTED_TABLE"],
            "workgroup": compactor["ATHENA_WORKGROUP"],
            "raw_stream": raw_stream["DeliveryStreamName"],
            "search_stream": search_stream["DeliveryStreamName"],
            "index_pattern": f"{index}-*",
            "alert_topic": alerter["ALERT_TOPIC_ARN"],
            "alerts_prefix": alerter["ALERTS_PREFIX"],
            "alerts_topic": alerter["ALERTS_TOPIC_TEMPLATE"],
            "thresholds": alerter["DEFAULT_THRESHOLDS"],
        }

    def _account(self, names: dict[str, str], published: int) -> Summary:
        assert self.cloud is not None
        raw = raw_readings(names["bucket"])
        compacted = compacted_tally(names["database"], names["table"], names["workgroup"])
        search = search_tally(self.cloud.env(), names["index_pattern"])
        invalid = invalid_records(names["bucket"])
        return Summary(
            published=published,
            raw=len(raw),
            compacted=compacted.unique,
            search=search.unique,
            lost=max(published - compacted.unique, 0),
            duplicates=compacted.duplicates,
            search_repeats=search.duplicates,
            raw_repeats=sum(raw.values()) - len(raw),
            invalid=len(invalid),
        )

    def _write_results(self, names: dict[str, str], summary: Summary) -> None:
        results = {}
        for sql_file in sorted((ROOT / "athena").glob("*.sql")):
            rows = athena_query(sql_file.read_text(), names["database"], names["workgroup"])
            results[sql_file.stem] = rows
            with (self.out_dir / f"{sql_file.stem}.csv").open("w", newline="") as target:
                csv.writer(target).writerows(rows)
            say(f"{sql_file.name}: {len(rows) - 1} rows -> out/{sql_file.stem}.csv")
        objects = {
            "raw_objects": count_objects(names["bucket"], "raw/"),
            "compacted_objects": count_objects(names["bucket"], "compacted/"),
        }
        (self.out_dir / "summary.json").write_text(
            json.dumps({**asdict(summary), **objects}, indent=2) + "\n"
        )
        # The thresholds the deployed alerter was given (cdk.json's alertThresholds), for the
        # report's threshold lines, and the alerts it raised, for its timeline and table.
        (self.out_dir / "thresholds.json").write_text(names["thresholds"] + "\n")
        thresholds = report.default_thresholds(json.loads(names["thresholds"]))
        report.publish(
            self.out_dir,
            {**results, "alerts": self.alert_rows},
            {**asdict(summary), **objects},
            thresholds,
            log=say,
        )

    def stop(self) -> None:
        NARRATOR.close()
        if self.cloud is not None:
            self.cloud.stop()


def say(message: str) -> None:
    """One line of the demo's log (above the progress bars, at a terminal)."""
    tqdm.write(f"[demo {time.strftime('%H:%M:%S')}] {message}", file=sys.stdout)
    sys.stdout.flush()
    NARRATOR.said()


NARRATOR = Narrator(say)


def main(rows: int | None, state_dir: Path, out_dir: Path, fleet: bool = False) -> int:
    demo = Demo(state_dir, out_dir, rows, fleet=fleet)
    with interrupt.remembered():
        try:
            summary = demo.run()
            interrupt.raise_if_interrupted()  # a Ctrl-C whose exception something swallowed
        except KeyboardInterrupt:
            if not demo.interrupted:
                say("interrupted: stopping the local cloud")
            demo.stop()
            say("stopped")
            return 130
        except BaseException:
            demo.stop()
            raise
        demo.stop()
    for line in summary.lines():
        print(line, flush=True)
    return 0 if summary.lost == 0 and summary.duplicates == 0 else 1
