"""The inside of a local Lambda execution environment: loads the handler, runs invocations.

Started by `localcloud.lambda_.function.LocalLambda` as `python -I worker.py <in> <out>`
with the function's environment and its asset folder (`LAMBDA_TASK_ROOT`) as working directory.
Requests and responses travel as JSON lines over two inherited pipe descriptors, so the
function's own stdout and stderr stay free for its logs, as in Lambda.

Like the Python runtime, the asset folder is first on `sys.path`; the handler (`_HANDLER`,
`<module path>.<function>`) is imported once, on the first invocation (the init phase); a failing
init is reported with the runtime's error types (`Runtime.ImportModuleError`,
`Runtime.HandlerNotFound`, ...) and ends the process, so the next invocation initialises again.
Results are serialised as the runtime does (JSON; `Decimal` as a number); anything else is
`Runtime.MarshalError`.

Standard library only: this file must not import the project, so that the function sees only its
own code and the installed packages.
"""

from __future__ import annotations

import decimal
import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, BinaryIO


class InitError(Exception):
    def __init__(self, error_type: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack = stack or []


class CognitoIdentity:
    cognito_identity_id: str | None = None
    cognito_identity_pool_id: str | None = None


class LambdaContext:
    """The context object a Python handler receives."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        # a string, as the Python runtime passes it on from the environment
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = CognitoIdentity()
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(int(self._deadline_ms - time.time() * 1000), 0)


def load_handler(handler: str) -> Callable[[Any, LambdaContext], Any]:
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as err:
        raise InitError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {err}") from err
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise InitError(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {module_name} as a handler module",
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as err:
        raise InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {err}"
        ) from err
    except SyntaxError as err:
        raise InitError(
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{module_name}': {err}",
            [f'  File "{err.filename}" Line {err.lineno}\n    {err.text}'],
        ) from err
    except Exception as err:
        raise InitError(type(err).__name__, str(err), _stack(err)) from err
    function = getattr(module, function_name, None)
    if function is None:
        raise InitError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    return function  # type: ignore[no-any-return]


def _stack(err: BaseException) -> list[str]:
    frames = traceback.extract_tb(err.__traceback__)
    user = [frame for frame in frames if frame.filename != __file__]
    return traceback.format_list(user)


def _decimal(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class _Raw(str):
    """An already serialised JSON value, sent as it is."""


def _send(out: BinaryIO, message: dict[str, Any]) -> None:
    result = message.get("result")
    if isinstance(result, _Raw):
        head = json.dumps({k: v for k, v in message.items() if k != "result"})
        line = head[:-1] + ', "result": ' + result + "}"
    else:
        line = json.dumps(message)
    out.write(line.encode("utf-8") + b"\n")
    out.flush()


def _error(error_type: str, message: str, stack: list[str], request_id: str) -> dict[str, Any]:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack,
    }


def _log(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def serve(requests: BinaryIO, responses: BinaryIO) -> int:
    handler: Callable[[Any, LambdaContext], Any] | None = None
    for raw in requests:
        request = json.loads(raw)
        request_id = request["request_id"]
        started = time.monotonic()
        version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        _log(f"START RequestId: {request_id} Version: {version}")
        if handler is None:
            try:
                handler = load_handler(os.environ["_HANDLER"])
            except InitError as err:
                sys.stderr.write(f"[ERROR] {err.error_type}: {err.message}\n")
                error = _error(err.error_type, err.message, err.stack, request_id)
                fatal = {"request_id": request_id, "ok": False, "fatal": True, "error": error}
                _send(responses, fatal)
                return 1
        context = LambdaContext(
            request_id, int(request["deadline_ms"]), request["invoked_function_arn"]
        )
        try:
            result = handler(request["event"], context)
        except Exception as err:
            stack = _stack(err)
            sys.stderr.write(
                f"[ERROR] {type(err).__name__}: {err}\nTraceback (most recent call last):\n"
                + "".join(stack)
            )
            response = {
                "request_id": request_id,
                "ok": False,
                "error": _error(type(err).__name__, str(err), stack, request_id),
            }
        else:
            try:
                body = json.dumps(result, default=_decimal)
            except (TypeError, ValueError) as err:
                message = f"Unable to marshal response: {err}"
                response = {
                    "request_id": request_id,
                    "ok": False,
                    "error": _error("Runtime.MarshalError", message, [], request_id),
                }
            else:
                response = {"request_id": request_id, "ok": True, "result": _Raw(body)}
        duration = (time.monotonic() - started) * 1000
        _log(f"END RequestId: {request_id}")
        _log(
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
            f"Memory Size: {os.environ.get('AWS_LAMBDA_FUNCTION_MEMORY_SIZE')} MB"
        )
        _send(responses, response)
    return 0


def main(argv: list[str]) -> int:
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)
    with os.fdopen(int(argv[1]), "rb") as requests, os.fdopen(int(argv[2]), "wb") as responses:
        return serve(requests, responses)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
