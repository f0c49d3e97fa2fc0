"""The Lambda entry point: environment, response and the metrics it emits (drop mode, no S3)."""

import json

import pytest
from validator_events import decoded, envelope, event, good_reading, record

from validator import handler
from validator.settings import ConfigurationError


@pytest.fixture
def search_env(monkeypatch):
    monkeypatch.setenv("OUTPUT_FORMAT", "search-documents")
    monkeypatch.setenv("INVALID_RECORDS", "drop")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "validator")


def emitted_metrics(output: str) -> list[dict]:
    documents = []
    for line in output.splitlines():
        if line.startswith("{") and "_aws" in line:
            documents.append(json.loads(line))
    return documents


def test_handler_returns_firehose_response_and_counts_by_reason(search_env, capsys):
    evt = event(
        record(envelope(good_reading()), "ok"),
        record(envelope(good_reading(humidity=-5)), "range"),
        record(envelope(good_reading(humidity=...)), "missing"),
        record(envelope(good_reading(temperature=999)), "range2"),
    )
    response = handler.lambda_handler(evt, None)
    assert [(r["recordId"], r["result"]) for r in response["records"]] == [
        ("ok", "Ok"),
        ("range", "Dropped"),
        ("missing", "Dropped"),
        ("range2", "Dropped"),
    ]
    assert not decoded(response["records"][0]).endswith(b"\n")
    metrics = emitted_metrics(capsys.readouterr().out)
    by_reason = {m["reason"]: m["RecordsInvalid"] for m in metrics if "reason" in m}
    assert by_reason == {"out_of_range": [2.0], "missing_field": [1.0]}
    [totals] = [m for m in metrics if "RecordsOk" in m]
    assert (totals["RecordsOk"], totals["RecordsInvalid"], totals["RecordsFailed"]) == (
        [1.0],
        [3.0],
        [0.0],
    )


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_handler_refuses_to_run_without_its_settings(monkeypatch):
    monkeypatch.delenv("OUTPUT_FORMAT", raising=False)
    monkeypatch.setenv("INVALID_RECORDS", "drop")
    with pytest.raises(ConfigurationError, match="OUTPUT_FORMAT"):
        handler.lambda_handler(event(record(envelope(good_reading()))), None)
