"""The local Lambda runtime running real handlers from an asset folder in worker processes."""

import json
import textwrap
import threading

import pytest

from localcloud.lambda_.function import LambdaFunctionConfig, LambdaInvocationError, LocalLambda
from localcloud.lambda_.sources import ScheduleSource

pytestmark = pytest.mark.integration

HANDLER = """
import decimal
import json
import os
import sys
import time
from pathlib import Path

from aws_lambda_powertools import Logger

logger = Logger()
WARM = {"invocations": 0}


def lambda_handler(event, context):
    WARM["invocations"] += 1
    action = event.get("action")
    if action == "fail":
        raise ValueError(f"bad reading {event.get('n')}")
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "exit":
        os._exit(3)
    if action == "set":
        return {1, 2}
    if action == "decimal":
        return {"value": decimal.Decimal("1.5")}
    if action == "record" or event.get("source") == "aws.events":
        with open(os.environ["RECORD_FILE"], "a") as out:
            out.write(json.dumps(event) + "\\n")
        attempts = sum(1 for _ in open(os.environ["RECORD_FILE"]))
        if attempts <= event.get("fail_times", 0):
            raise RuntimeError(f"failing attempt {attempts}")
        return None
    print("handled", context.aws_request_id)
    return {
        "event": event,
        "warm_invocations": WARM["invocations"],
        "sys_path_0": sys.path[0],
        "env": {k: os.environ.get(k) for k in (
            "STAGE", "LEAK_CHECK", "EXTRA", "AWS_LAMBDA_FUNCTION_NAME", "_HANDLER",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "LAMBDA_TASK_ROOT", "AWS_REGION",
        )},
        "context": {
            "function_name": context.function_name,
            "aws_request_id": context.aws_request_id,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    }
"""


@pytest.fixture
def asset(tmp_path):
    folder = tmp_path / "asset"
    (folder / "probe").mkdir(parents=True)
    (folder / "probe" / "__init__.py").write_text("")
    (folder / "probe" / "handler.py").write_text(textwrap.dedent(HANDLER))
    return folder


def make(asset, name="probe-fn", timeout=5, env=None, handler="probe.handler.lambda_handler"):
    props = {
        "Handler": handler,
        "Runtime": "python3.13",
        "Timeout": timeout,
        "MemorySize": 256,
        "FunctionName": name,
        "Environment": {"Variables": env or {"STAGE": name}},
    }
    return LambdaFunctionConfig.from_cfn_properties("Probe", props, asset)


@pytest.fixture
def functions(tmp_path):
    started = []

    def start(config, **kwargs):
        function = LocalLambda(
            config, {"EXTRA": "from-local-cloud"}, log_path=tmp_path / "fn.log", **kwargs
        )
        started.append(function)
        return function

    yield start
    for function in started:
        function.close()


def test_handler_gets_event_context_and_its_own_environment(asset, functions, monkeypatch):
    monkeypatch.setenv("LEAK_CHECK", "parent-only")
    first = functions(make(asset, "first-fn"))
    second = functions(make(asset, "second-fn"))
    result = first.invoke({"n": 1})
    other = second.invoke({"n": 2})

    assert result["event"] == {"n": 1}
    assert result["sys_path_0"] == str(asset.resolve())
    assert result["env"] == {
        "STAGE": "first-fn",
        "LEAK_CHECK": None,
        "EXTRA": "from-local-cloud",
        "AWS_LAMBDA_FUNCTION_NAME": "first-fn",
        "_HANDLER": "probe.handler.lambda_handler",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "LAMBDA_TASK_ROOT": str(asset.resolve()),
        "AWS_REGION": "us-east-1",
    }
    assert other["env"]["STAGE"] == "second-fn"
    context = result["context"]
    assert context["function_name"] == "first-fn"
    assert context["invoked_function_arn"] == first.arn
    assert context["memory_limit_in_mb"] == "256"
    assert 0 < context["remaining_ms"] <= 5000
    assert len(context["aws_request_id"]) == 36


def test_the_worker_stays_warm_between_invocations(asset, functions, tmp_path):
    function = functions(make(asset))
    assert [function.invoke({})["warm_invocations"] for _ in range(3)] == [1, 2, 3]
    assert function.cold_starts == 1
    log = (tmp_path / "fn.log").read_text()
    assert log.count("START RequestId:") == 3
    assert "handled" in log


def test_a_handler_error_is_reported_like_lambda(asset, functions):
    function = functions(make(asset))
    with pytest.raises(LambdaInvocationError) as caught:
        function.invoke({"action": "fail", "n": 7})
    err = caught.value
    assert err.error_type == "ValueError"
    assert err.error_message == "bad reading 7"
    assert any("handler.py" in frame and "lambda_handler" in frame for frame in err.stack_trace)
    assert err.request_id
    assert function.invoke({})["warm_invocations"] == 2  # the same worker carries on
    assert function.errors == 1


def test_an_invocation_past_its_timeout_is_killed_and_the_worker_restarted(asset, functions):
    function = functions(make(asset, timeout=1))
    assert function.invoke({})["warm_invocations"] == 1
    with pytest.raises(LambdaInvocationError) as caught:
        function.invoke({"action": "sleep", "seconds": 30})
    assert caught.value.error_type == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in caught.value.error_message
    assert function.invoke({})["warm_invocations"] == 1  # a fresh worker
    assert function.cold_starts == 2


def test_a_crashed_worker_is_reported_and_replaced(asset, functions):
    function = functions(make(asset))
    with pytest.raises(LambdaInvocationError) as caught:
        function.invoke({"action": "exit"})
    assert caught.value.error_type == "Runtime.ExitError"
    assert "exit status 3" in caught.value.error_message
    assert function.invoke({})["warm_invocations"] == 1


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("missing.handler.lambda_handler", "Runtime.ImportModuleError", "Unable to import module"),
        ("probe.handler.nothing_here", "Runtime.HandlerNotFound", "Handler 'nothing_here' missing"),
    ],
)
def test_init_errors_use_the_runtime_error_types(asset, functions, handler, error_type, message):
    function = functions(make(asset, handler=handler))
    for _ in range(2):  # init is attempted again on the next invocation
        with pytest.raises(LambdaInvocationError) as caught:
            function.invoke({})
        assert caught.value.error_type == error_type
        assert message in caught.value.error_message


def test_results_are_serialised_as_the_python_runtime_does(asset, functions):
    function = functions(make(asset))
    assert function.invoke({"action": "decimal"}) == {"value": 1.5}
    with pytest.raises(LambdaInvocationError) as caught:
        function.invoke({"action": "set"})
    assert caught.value.error_type == "Runtime.MarshalError"
    assert "Unable to marshal response" in caught.value.error_message


def record_env(asset, tmp_path, name="recorder"):
    record_file = tmp_path / f"{name}.jsonl"
    return make(asset, name, env={"RECORD_FILE": str(record_file)}), record_file


def test_async_invocations_are_retried_twice_then_recorded_as_failed(asset, functions, tmp_path):
    config, record_file = record_env(asset, tmp_path)
    function = functions(config, async_retry_delays=(0.05, 0.05))
    function.invoke_async({"action": "record", "fail_times": 2})
    assert function.wait_async(30)
    assert len(record_file.read_text().splitlines()) == 3  # failed, failed, succeeded
    assert function.async_failures == []

    record_file.unlink()
    function.invoke_async({"action": "record", "fail_times": 99})
    assert function.wait_async(30)
    assert len(record_file.read_text().splitlines()) == 3  # the first attempt and two retries
    ((event, error),) = function.async_failures
    assert event["fail_times"] == 99
    assert error.error_type == "RuntimeError"


def test_schedule_sends_scheduled_events_asynchronously(asset, functions, tmp_path):
    config, record_file = record_env(asset, tmp_path, "scheduled")
    function = functions(config)
    schedule = ScheduleSource(0.05, function, rule_name="tail-schedule")
    stop = threading.Event()
    thread = schedule.start(stop)
    try:
        for _ in range(400):
            if record_file.exists() and len(record_file.read_text().splitlines()) >= 2:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)
    events = [json.loads(line) for line in record_file.read_text().splitlines()]
    assert len(events) >= 2
    assert {e["source"] for e in events} == {"aws.events"}
    assert {e["detail-type"] for e in events} == {"Scheduled Event"}
    assert events[0]["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/tail-schedule"]
    assert len({e["id"] for e in events}) == len(events)
