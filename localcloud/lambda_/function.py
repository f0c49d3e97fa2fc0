"""One Lambda function: its settings from the template and a long-lived worker process.

`LocalLambda` runs the handler in its own subprocess (`lambda_.worker`), started with a clean
environment: the Lambda runtime's reserved variables (`AWS_LAMBDA_FUNCTION_NAME`, `_HANDLER`,
`LAMBDA_TASK_ROOT`, `AWS_REGION`, ...), the function's `Environment.Variables`, and the local
cloud's `extra_env` (endpoints and credentials, standing in for the execution role). Nothing else
leaks in from the parent process. The asset folder is first on `sys.path`; packages installed in
the project's virtualenv (Powertools, boto3) stand in for the layers and the runtime's SDK.

`invoke` is a RequestResponse invocation: it returns the handler's result or raises
`LambdaInvocationError` carrying `errorType`, `errorMessage` and `stackTrace` as Lambda reports
them. An invocation running past `Timeout` is killed with its process group and reported as
`Sandbox.Timedout` "Task timed out after N.NN seconds"; the next invocation starts a fresh worker
(a cold start), as does one after the worker died (`Runtime.ExitError`).

`invoke_async` is an Event invocation: queued, retried twice on error with Lambda's delays (one
minute, then two), then recorded in `async_failures` (standing in for an on-failure destination).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import logging
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

from localcloud.core.aws import ACCOUNT_ID, REGION
from localcloud.core.service import Service

WORKER = Path(__file__).with_name("worker.py")
SYNC_PAYLOAD_LIMIT: Final = 6 * 1024 * 1024
DEFAULT_TIMEOUT: Final = 3
DEFAULT_MEMORY: Final = 128
ASYNC_RETRY_DELAYS: Final = (60.0, 120.0)
RESERVED_VARIABLES: Final = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
_HANDLER = re.compile(r"^[A-Za-z0-9_./-]+\.[A-Za-z_][A-Za-z0-9_]*$")
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
log = logging.getLogger("localcloud.lambda")


class LambdaConfigError(ValueError):
    """An `AWS::Lambda::Function` the local runtime cannot run as written."""


class LambdaInvocationError(Exception):
    """A failed invocation, with the fields of Lambda's error payload."""

    def __init__(
        self,
        error_type: str,
        error_message: str,
        stack_trace: list[str] | None = None,
        request_id: str = "",
    ) -> None:
        super().__init__(f"{error_type}: {error_message}")
        self.error_type = error_type
        self.error_message = error_message
        self.stack_trace = stack_trace or []
        self.request_id = request_id

    @property
    def payload(self) -> dict[str, Any]:
        """The error as Lambda's Invoke returns it (with `X-Amz-Function-Error`)."""
        return {
            "errorMessage": self.error_message,
            "errorType": self.error_type,
            "requestId": self.request_id,
            "stackTrace": self.stack_trace,
        }


@dataclass(frozen=True)
class LambdaFunctionConfig:
    logical_id: str
    function_name: str
    handler: str
    runtime: str
    asset_dir: Path
    timeout_seconds: int = DEFAULT_TIMEOUT
    memory_mb: int = DEFAULT_MEMORY
    environment: Mapping[str, str] = field(default_factory=dict)
    region: str = REGION
    account_id: str = ACCOUNT_ID

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    @classmethod
    def from_cfn_properties(
        cls,
        logical_id: str,
        props: Mapping[str, Any],
        asset_dir: Path,
        function_name: str | None = None,
    ) -> LambdaFunctionConfig:
        """Read a resolved `AWS::Lambda::Function`'s `Properties`; `asset_dir` is its code folder.

        `function_name` is the physical name when the template leaves `FunctionName` to
        CloudFormation; without either, the logical id is the name.
        """
        where = f"{logical_id} (AWS::Lambda::Function)"
        handler = props.get("Handler")
        if not isinstance(handler, str) or not _HANDLER.match(handler):
            raise LambdaConfigError(
                f"{where}: Handler {handler!r} is not '<module path>.<function>'"
            )
        runtime = props.get("Runtime")
        if not isinstance(runtime, str) or not runtime.startswith("python3"):
            raise LambdaConfigError(
                f"{where}: Runtime {runtime!r} is not emulated; only python3.x runs locally"
            )
        if props.get("PackageType", "Zip") != "Zip":
            raise LambdaConfigError(f"{where}: only Zip (asset folder) functions run locally")
        asset = Path(asset_dir)
        if not asset.is_dir():
            raise LambdaConfigError(f"{where}: the asset folder {asset} does not exist")
        name = function_name or props.get("FunctionName") or logical_id
        if not isinstance(name, str) or not _NAME.match(name):
            raise LambdaConfigError(f"{where}: FunctionName {name!r} is not a valid name")
        variables = (props.get("Environment") or {}).get("Variables") or {}
        environment: dict[str, str] = {}
        for key, value in variables.items():
            if key in RESERVED_VARIABLES:
                raise LambdaConfigError(
                    f"{where}: environment variable {key} is reserved by the Lambda runtime"
                )
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise LambdaConfigError(
                    f"{where}: environment variable {key} is {value!r}, not a string "
                    "(is an intrinsic left unresolved?)"
                )
            environment[key] = str(value)
        try:
            timeout = int(props.get("Timeout", DEFAULT_TIMEOUT))
            memory = int(props.get("MemorySize", DEFAULT_MEMORY))
        except (TypeError, ValueError) as err:
            raise LambdaConfigError(f"{where}: Timeout and MemorySize must be integers") from err
        if not 1 <= timeout <= 900:
            raise LambdaConfigError(f"{where}: Timeout {timeout} is outside 1-900 seconds")
        return cls(
            logical_id=logical_id,
            function_name=name,
            handler=handler,
            runtime=runtime,
            asset_dir=asset.resolve(),
            timeout_seconds=timeout,
            memory_mb=memory,
            environment=environment,
        )


def function_environment(
    config: LambdaFunctionConfig, extra_env: Mapping[str, str]
) -> dict[str, str]:
    """The complete environment of the function's process."""
    today = datetime.now(UTC).strftime("%Y/%m/%d")
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        # no developer profile leaks into the function: Lambda has none
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "LAMBDA_TASK_ROOT": str(config.asset_dir),
        "LAMBDA_RUNTIME_DIR": str(WORKER.parent),
        "_HANDLER": config.handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": config.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"{today}/[$LATEST]{uuid.uuid4().hex}",
        "AWS_REGION": config.region,
        "AWS_DEFAULT_REGION": config.region,
    }
    env.update(config.environment)
    env.update(extra_env)
    return env


class _Worker:
    """One running worker process and its two pipes."""

    def __init__(
        self, config: LambdaFunctionConfig, env: dict[str, str], log_file: IO[bytes] | int
    ) -> None:
        request_read, self._request_write = os.pipe()
        self._response_read, response_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", str(WORKER), str(request_read), str(response_write)],
                pass_fds=(request_read, response_write),
                env=env,
                cwd=config.asset_dir,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
            )
        finally:
            os.close(request_read)
            os.close(response_write)
        self._pending = bytearray()

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, line: bytes) -> None:
        view = memoryview(line)
        while view:
            written = os.write(self._request_write, view)
            view = view[written:]

    def receive(self, deadline: float) -> bytes | None:
        """The next response line; None on timeout; b"" if the worker closed its pipe."""
        while b"\n" not in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._response_read], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self._response_read, 1 << 20)
            if not chunk:
                return b""
            self._pending += chunk
        line, _, rest = bytes(self._pending).partition(b"\n")
        self._pending = bytearray(rest)
        return line

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.close_pipes()

    def stop(self, grace: float = 2.0) -> None:
        self.close_pipes()  # EOF on the request pipe ends the worker's loop
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def close_pipes(self) -> None:
        for fd in (self._request_write, self._response_read):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._request_write = self._response_read = -1


@dataclass(order=True)
class _AsyncItem:
    due: float
    order: int
    attempt: int = field(compare=False)
    request_id: str = field(compare=False)
    event: Any = field(compare=False)


class LocalLambda(Service):
    """A function running in its own long-lived worker process."""

    def __init__(
        self,
        config: LambdaFunctionConfig,
        extra_env: Mapping[str, str] | None = None,
        *,
        log_path: Path | None = None,
        async_retry_delays: tuple[float, ...] = ASYNC_RETRY_DELAYS,
        timeout_grace_seconds: float = 0.25,
    ) -> None:
        self.config = config
        self._env = function_environment(config, extra_env or {})
        self._log_path = log_path
        self._log_file: IO[bytes] | None = None
        self._grace = timeout_grace_seconds
        self._worker: _Worker | None = None
        self._lock = threading.Lock()
        self._async_delays = async_retry_delays
        self._async_queue: list[_AsyncItem] = []
        self._async_cv = threading.Condition()
        self._async_thread: threading.Thread | None = None
        self._async_busy = 0
        self._closed = False
        self._order = itertools.count()
        self.invocations = 0
        self.errors = 0
        self.cold_starts = 0
        self.async_failures: list[tuple[Any, LambdaInvocationError]] = []

    @property
    def arn(self) -> str:
        return self.config.arn

    @property
    def name(self) -> str:
        return self.config.function_name

    # --- synchronous ---

    def _ensure_worker(self) -> _Worker:
        if self._worker is not None and self._worker.alive():
            return self._worker
        if self._worker is not None:
            self._worker.kill()
        if self._log_path is not None and self._log_file is None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(self._log_path, "ab")  # noqa: SIM115 (kept for the worker)
        target: IO[bytes] | int = (
            self._log_file if self._log_file is not None else sys.stderr.fileno()
        )
        self._worker = _Worker(self.config, self._env, target)
        self.cold_starts += 1
        return self._worker

    def start(self) -> LocalLambda:
        """Start the worker now instead of on the first invocation."""
        with self._lock:
            self._ensure_worker()
        return self

    def invoke(self, event: Any) -> Any:
        """Invoke synchronously; return the result or raise LambdaInvocationError."""
        request_id = str(uuid.uuid4())
        body = json.dumps(event)
        if len(body) > SYNC_PAYLOAD_LIMIT:
            raise LambdaInvocationError(
                "RequestEntityTooLargeException",
                f"Request must be smaller than {SYNC_PAYLOAD_LIMIT} bytes for the "
                "InvokeFunction operation",
                request_id=request_id,
            )
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name}: the function was closed")
            self.invocations += 1
            try:
                return self._invoke_locked(request_id, body)
            except LambdaInvocationError:
                self.errors += 1
                raise

    def _invoke_locked(self, request_id: str, body: str) -> Any:
        worker = self._ensure_worker()
        timeout = self.config.timeout_seconds
        deadline_ms = int(time.time() * 1000) + timeout * 1000
        request = (
            f'{{"request_id": "{request_id}", "deadline_ms": {deadline_ms}, '
            f'"invoked_function_arn": {json.dumps(self.arn)}, "event": {body}}}\n'
        )
        try:
            worker.send(request.encode("utf-8"))
            line = worker.receive(time.monotonic() + timeout + self._grace)
        except OSError:
            line = b""
        if line is None:
            worker.kill()
            log.warning("%s: %s timed out after %d s", self.name, request_id, timeout)
            raise LambdaInvocationError(
                "Sandbox.Timedout",
                f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
                request_id=request_id,
            )
        if not line:
            worker.process.wait()
            code = worker.process.returncode
            worker.close_pipes()
            status = f"signal: {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
            raise LambdaInvocationError(
                "Runtime.ExitError",
                f"RequestId: {request_id} Error: Runtime exited with error: {status}",
                request_id=request_id,
            )
        response = json.loads(line)
        if response.get("ok"):
            return response.get("result")
        if response.get("fatal"):  # init failed: the next invocation initialises a new worker
            worker.stop()
        error = response.get("error") or {}
        raise LambdaInvocationError(
            str(error.get("errorType", "Unhandled")),
            str(error.get("errorMessage", "")),
            list(error.get("stackTrace") or []),
            request_id,
        )

    # --- asynchronous ---

    def invoke_async(self, event: Any) -> str:
        """Queue an Event invocation (as EventBridge or S3 make); returns its request id."""
        json.dumps(event)  # refuse what Lambda could not accept, now
        request_id = str(uuid.uuid4())
        with self._async_cv:
            if self._closed:
                raise RuntimeError(f"{self.name}: the function was closed")
            heapq.heappush(
                self._async_queue,
                _AsyncItem(time.monotonic(), next(self._order), 0, request_id, event),
            )
            if self._async_thread is None:
                self._async_thread = threading.Thread(
                    target=self._run_async, name=f"lambda-async-{self.name}", daemon=True
                )
                self._async_thread.start()
            self._async_cv.notify_all()
        return request_id

    def _run_async(self) -> None:
        while True:
            with self._async_cv:
                while not self._closed:
                    if self._async_queue:
                        wait = self._async_queue[0].due - time.monotonic()
                        if wait <= 0:
                            break
                        self._async_cv.wait(wait)
                    else:
                        self._async_cv.wait()
                if self._closed:
                    return
                item = heapq.heappop(self._async_queue)
                self._async_busy += 1
            try:
                self.invoke(item.event)
            except LambdaInvocationError as err:
                self._async_failed(item, err)
            except RuntimeError:
                return
            finally:
                with self._async_cv:
                    self._async_busy -= 1
                    self._async_cv.notify_all()

    def _async_failed(self, item: _AsyncItem, err: LambdaInvocationError) -> None:
        with self._async_cv:
            if item.attempt < len(self._async_delays):
                delay = self._async_delays[item.attempt]
                log.info(
                    "%s: async %s failed (%s), retry in %ss", self.name, item.request_id, err, delay
                )
                heapq.heappush(
                    self._async_queue,
                    _AsyncItem(
                        time.monotonic() + delay,
                        next(self._order),
                        item.attempt + 1,
                        item.request_id,
                        item.event,
                    ),
                )
            else:
                log.warning("%s: async %s failed for good: %s", self.name, item.request_id, err)
                self.async_failures.append((item.event, err))

    def wait_async(self, timeout: float) -> bool:
        """Wait until no Event invocation is queued or running (retries included)."""
        deadline = time.monotonic() + timeout
        with self._async_cv:
            while self._async_queue or self._async_busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._async_cv.wait(remaining)
        return True

    # --- lifecycle ---

    def close(self) -> None:
        """Stop the worker. Queued Event invocations are dropped."""
        with self._async_cv:
            self._closed = True
            self._async_cv.notify_all()
        with self._lock:
            if self._worker is not None:
                self._worker.stop()
                self._worker = None
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    def stop(self) -> None:
        self.close()
