"""The alerter on real moto services: history in S3, SNS to SQS, state in DynamoDB, run-time
thresholds, redelivered batches, invalid records, and a failed output resumed from its record."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from alerter_world import THRESHOLDS, AlertWorld

from alerter import service
from alerter.cli import main as cli
from alerter.service import Alerter
from alerter.wiring import build_alerter
from tests.unit.alerter.alerter_events import OTHER, THING, kinesis_event, kinesis_record, reading

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "alert-thresholds"


def humidity(values: list[float], thing: str = THING, first_seq: int = 1) -> list[dict]:
    return [reading(seq, thing, humidity=v) for seq, v in enumerate(values, start=first_seq)]


def alerter(world: AlertWorld) -> Alerter:
    return build_alerter(world.env)


def test_transitions_reach_history_topic_and_state(world: AlertWorld) -> None:
    summary = alerter(world).handle(kinesis_event(humidity([50, 61, 66, 55])))
    assert summary.response() == {"batchItemFailures": []}
    assert [a["alert_id"] for a in summary.alerts] == [
        f"{THING}:humidity:2",
        f"{THING}:humidity:3",
        f"{THING}:humidity:4",
    ]
    history = world.history()
    day = reading(1)["ts"][:10]
    assert sorted(history) == [f"alerts/dt={day}/{THING}/humidity-{seq}.json" for seq in (2, 3, 4)]
    assert [history[k]["transition"] for k in sorted(history)] == [
        "raised",
        "raised",
        "recovered",
    ]
    messages = world.sns_messages()
    assert [json.loads(m["Message"])["level"] for m in messages] == [
        "warning",
        "critical",
        "normal",
    ]
    first = messages[0]
    assert first["Subject"] == f"[WARNING] {THING} humidity raised: 61"
    assert first["MessageAttributes"]["level"]["Value"] == "warning"
    assert first["MessageAttributes"]["device_id"]["Value"] == THING
    state = world.client("dynamodb").get_item(
        TableName="alert-state", Key={"device_id": {"S": THING}, "metric": {"S": "humidity"}}
    )["Item"]
    assert state["level"]["S"] == "normal" and state["seq"]["N"] == "4"


def test_a_redelivered_batch_raises_nothing_new(world: AlertWorld) -> None:
    event = kinesis_event(humidity([50, 61, 66]))
    assert len(alerter(world).handle(event).alerts) == 2
    world.sns_messages()
    again = alerter(world).handle(event)  # a new execution environment, as after a retry
    assert again.alerts == [] and world.sns_messages() == []


def test_per_device_override_and_run_time_change(world: AlertWorld) -> None:
    summary = alerter(world).handle(kinesis_event(humidity([85], OTHER)))
    assert [a["level"] for a in summary.alerts] == ["warning"]  # context override 80/90
    assert summary.alerts[0]["threshold_source"] == f"context:{OTHER}"

    code = cli(
        [
            *("--threshold-table", "thresholds", "set", "--device", THING, "--metric", "humidity"),
            *("--warning-high", "70", "--critical-high", "75", "--hysteresis", "0.5"),
        ]
    )
    assert code == 0
    summary = alerter(world).handle(kinesis_event(humidity([66, 71], THING)))
    assert [(a["seq"], a["level"], a["threshold_source"]) for a in summary.alerts] == [
        (2, "warning", f"table:{THING}")
    ]


def test_invalid_records_are_skipped_and_the_rest_evaluated(world: AlertWorld) -> None:
    event = kinesis_event(humidity([66]))
    event["Records"].insert(0, kinesis_record(b"not json", 99))
    event["Records"].insert(0, kinesis_record(reading(5, humidity=150), 98))  # out of range
    summary = alerter(world).handle(event)
    assert summary.invalid == 2 and [a["level"] for a in summary.alerts] == ["critical"]


HOSTILE_RECORDS = {
    "arrays-10000-deep": b"[" * 10_000 + b"]" * 10_000,
    "lone-surrogate": json.dumps(reading(7)).replace('"sensehat-01"', '"\\ud800"').encode(),
    "clock-not-set": json.dumps(reading(8, ts="1970-01-01T00:00:00.000Z")).encode(),
    "far-future": json.dumps(reading(9, ts="9999-12-31T23:59:59.999Z")).encode(),
    "huge-integer": json.dumps(reading(10, humidity=10**400)).encode(),
}


def test_hostile_records_are_skipped_at_once_and_never_hold_back_the_shard(
    world: AlertWorld,
) -> None:
    event = kinesis_event(humidity([66, 45]))
    for sequence, payload in enumerate(HOSTILE_RECORDS.values(), start=90):
        event["Records"].insert(1, kinesis_record(payload, sequence))
    summary = alerter(world).handle(event)
    assert summary.failed_at is None
    assert summary.invalid == len(HOSTILE_RECORDS)
    assert [a["transition"] for a in summary.alerts] == ["raised", "recovered"]


def test_unreadable_kinesis_data_is_skipped_at_once(world: AlertWorld) -> None:
    event = kinesis_event(humidity([66]))
    not_base64 = kinesis_record(reading(5), 97)
    not_base64["kinesis"]["data"] = "%%% not base64 %%%"
    no_data = kinesis_record(reading(6), 98)
    del no_data["kinesis"]["data"]
    event["Records"][:0] = [not_base64, no_data]
    summary = alerter(world).handle(event)
    assert (summary.records, summary.invalid, summary.failed_at) == (3, 2, None)
    assert [a["level"] for a in summary.alerts] == ["critical"]


def test_an_unexpected_error_while_decoding_skips_only_that_record(
    world: AlertWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = service.parse_payload

    def parse(payload: bytes) -> dict:
        if b'"seq": 2,' in payload:
            raise RuntimeError("a reader's bug")
        return real(payload)

    monkeypatch.setattr(service, "parse_payload", parse)
    summary = alerter(world).handle(kinesis_event(humidity([45, 66, 66])))
    assert summary.failed_at is None
    assert (summary.invalid, summary.evaluated) == (1, 2)
    assert [a["seq"] for a in summary.alerts] == [3]


def test_a_failed_output_reports_its_record_and_the_retry_completes(
    world: AlertWorld,
) -> None:
    broken = dict(world.env, ALERT_TOPIC_ARN=world.env["ALERT_TOPIC_ARN"] + "-missing")
    event = kinesis_event(humidity([50, 61, 66]))
    summary = build_alerter(broken).handle(event)
    second_record = event["Records"][1]["kinesis"]["sequenceNumber"]
    assert summary.response() == {"batchItemFailures": [{"itemIdentifier": second_record}]}
    assert summary.alerts == []
    # Lambda retries from the failed record; the state was not advanced, so nothing is lost
    retry = {"Records": event["Records"][1:]}
    assert [a["level"] for a in alerter(world).handle(retry).alerts] == ["warning", "critical"]


def test_cli_lists_shows_clears_and_reports_state(
    world: AlertWorld, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "SensorPipeline": {
                    "AlertThresholdTable": "thresholds",
                    "AlertStateTable": "alert-state",
                }
            }
        )
    )
    base = ["--outputs", str(outputs)]
    assert cli([*base, "set", "--all", "--metric", "pressure", "--warning-low", "980"]) == 0
    with pytest.raises(SystemExit, match="2"):
        cli([*base, "set", "--all", "--metric", "pressure", "--warning-low", "x"])
    bad = [
        "set",
        "--all",
        "--metric",
        "pressure",
        "--warning-high",
        "980",
        "--critical-high",
        "970",
    ]
    assert cli([*base, *bad]) == 2
    capsys.readouterr()
    assert cli([*base, "list"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(i["scope"], i["metric"], i["warningLow"]) for i in listed] == [("*", "pressure", 980)]

    context = tmp_path / "cdk.json"
    context.write_text(
        json.dumps({"context": {"alertThresholds": {"default": {"humidity": {"warningHigh": 60}}}}})
    )
    assert cli([*base, "show", "--device", THING, "--context", str(context)]) == 0
    shown = capsys.readouterr().out
    assert "humidity         warningHigh 60, hysteresis 0  (context:*)" in shown
    assert "pressure         warningLow 980, hysteresis 0  (table:*)" in shown
    assert "cpu_temp         not evaluated" in shown

    assert cli([*base, "clear", "--all", "--metric", "pressure"]) == 0
    assert cli([*base, "clear", "--all", "--metric", "pressure"]) == 0
    assert capsys.readouterr().out.splitlines() == ["cleared */pressure", "*/pressure: no set"]

    alerter(world).handle(kinesis_event(humidity([66])))
    assert cli([*base, "state", "--device", THING]) == 0
    (state,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (state["metric"], state["level"], state["seq"]) == ("humidity", "critical", 1)


def fresh_shell_env() -> dict[str, str]:
    """What a new terminal has: no virtualenv on PATH, the local cloud's endpoints and keys."""
    aws = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    return {"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/bin:/bin", **aws}


def test_the_script_runs_from_a_fresh_shell_and_explains_empty_tables(
    world: AlertWorld, tmp_path
) -> None:
    context = tmp_path / "cdk.json"
    context.write_text(
        json.dumps({"context": {"alertThresholds": {"default": {"humidity": {"warningHigh": 60}}}}})
    )
    env = {**fresh_shell_env(), "THRESHOLD_TABLE": "thresholds", "ALERT_STATE_TABLE": "alert-state"}

    def script(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), *args], env=env, cwd=tmp_path, capture_output=True, text=True, check=False
        )

    listed = script("list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == ""  # stdout stays JSON lines; the explanation is on stderr
    assert listed.stderr.splitlines() == [
        "no thresholds set in the threshold table; the context defaults apply "
        "(cdk.json, alertThresholds):",
        "  */humidity: warningHigh 60, hysteresis 0",
    ]
    state = script("state", "--device", THING)
    assert state.returncode == 0, state.stderr
    assert state.stdout == ""
    assert state.stderr.startswith(f"no alert state yet for {THING}: no alert has been raised")

    assert script("set", "--all", "--metric", "pressure", "--warning-low", "980").returncode == 0
    listed = script("list")
    assert [json.loads(line)["metric"] for line in listed.stdout.splitlines()] == ["pressure"]
    assert listed.stderr == ""


def test_the_list_says_when_the_context_defaults_cannot_be_read(
    world: AlertWorld, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    missing = tmp_path / "nowhere" / "cdk.json"
    assert cli(["--threshold-table", "thresholds", "list", "--context", str(missing)]) == 0
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.startswith("no thresholds set in the threshold table; the context defaults")
    assert "pass --context path/to/cdk.json" in printed.err


def test_place_thresholds_apply_to_the_devices_registered_there(
    world: AlertWorld, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    hall = "pi-hall"
    registry = "".join(
        json.dumps({"device_id": device, "place": place}) + "\n"
        for device, place in (
            (THING, "home/main/0/kitchen"),
            (OTHER, "home/main/1/attic"),
            (hall, "home/main/1/hall"),
        )
    )
    world.client("s3").put_object(Bucket="data", Key="devices/devices.json", Body=registry)
    places = {"home/main/0": {"humidity": {"warningHigh": 70, "criticalHigh": 75}}}
    env = {
        **world.env,
        "DEVICE_REGISTRY_KEY": "devices/devices.json",
        "DEFAULT_THRESHOLDS": json.dumps({**THRESHOLDS, "places": places}),
    }
    summary = build_alerter(env).handle(kinesis_event(humidity([66, 71])))
    assert [(a["seq"], a["level"], a["threshold_source"]) for a in summary.alerts] == [
        (2, "warning", "context:place/home/main/0")
    ]
    # At run time, for the whole building: the floor's set and a device's own still win.
    base = ["--threshold-table", "thresholds"]
    building = ["set", "--place", "home/main", "--metric", "humidity", "--warning-high", "50"]
    assert cli([*base, *building]) == 0
    assert "set place/home/main/humidity: warningHigh 50" in capsys.readouterr().out
    event = kinesis_event(
        [*humidity([74], THING, 3), *humidity([85], OTHER), *humidity([55], hall)]
    )
    summary = build_alerter(env).handle(event)
    assert [(a["device_id"], a["level"], a["threshold_source"]) for a in summary.alerts] == [
        (OTHER, "warning", f"context:{OTHER}"),
        (hall, "warning", "table:place/home/main"),
    ]

    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"SensorPipeline": {"DataBucket": "data"}}))
    context = tmp_path / "cdk.json"
    context.write_text(json.dumps({"context": {"alertThresholds": {"places": places}}}))
    show = [*base, "--outputs", str(outputs), "show", "--device", THING, "--context", str(context)]
    assert cli(show) == 0
    shown = capsys.readouterr().out
    assert "place            home/main/0/kitchen  (device registry s3://data/" in shown
    assert "warningHigh 70, criticalHigh 75, hysteresis 0  (context:place/home/main/0)" in shown
    elsewhere = ["show", "--device", "pi-new", "--place", "home/annex", "--context", str(context)]
    assert cli([*base, *elsewhere]) == 0
    assert "humidity         not evaluated" in capsys.readouterr().out
    assert cli([*base, "clear", "--place", "home/main", "--metric", "humidity"]) == 0
    bad = ["set", "--place", "home//x", "--metric", "humidity", "--warning-high", "1"]
    assert cli([*base, *bad]) == 2
    assert "'home//x' is not a place" in capsys.readouterr().err
