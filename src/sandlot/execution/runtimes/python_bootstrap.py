"""sandlot's Python runtime: the Lambda programming model over the Runtime API.

Started by the engine as ``python -S -u python_bootstrap.py`` inside an execution
environment. INIT imports the handler named by ``_HANDLER`` once (module code runs
once and is reused); then each invocation is fetched from
``AWS_LAMBDA_RUNTIME_API`` and answered, as Lambda's own Python runtime does:

- ``handler(event, context)``; ``context`` carries function_name, function_version,
  invoked_function_arn, memory_limit_in_mb, aws_request_id, log_group_name,
  log_stream_name, identity, client_context and get_remaining_time_in_millis();
- handler strings ``module.function``, ``dir/module.function``, ``pkg.mod.function``;
- init errors ``Runtime.ImportModuleError``, ``Runtime.HandlerNotFound``,
  ``Runtime.MalformedHandlerName``, ``Runtime.UserCodeSyntaxError``;
- a handler exception answers ``{errorMessage, errorType, requestId, stackTrace}`` with
  the exception's class name as ``errorType``;
- the ``logging`` module writes ``[LEVEL]\\t<timestamp>\\t<request id>\\t<message>``, and
  multi-line messages and tracebacks keep their inner line breaks as "\\r" so that each
  stays one log event;
- with ``AWS_LAMBDA_LOG_FORMAT=JSON`` (LoggingConfig) ``logging`` writes Lambda's JSON
  records (timestamp, level, message, logger, requestId, exception fields and the
  record's extra attributes), errors are JSON too, and the root logger's level is
  ``AWS_LAMBDA_LOG_LEVEL``; ``print`` stays plain text, as in Lambda.

Only the standard library; imports are kept few and lazy because they are cold-start
time (``-S`` skips site-packages: the engine puts exactly the packages Lambda provides,
boto3 and its dependencies, on PYTHONPATH).
"""

import json
import os
import socket
import sys
import time

_API_PREFIX = "/2018-06-01/runtime"
_request_id = None  # the invocation being handled, for log lines
# Lambda's Python 3.12+ runtimes answer with UTF-8 JSON; older ones escape to ASCII.
_ENSURE_ASCII = os.environ.get("AWS_EXECUTION_ENV", "") in (
    "AWS_Lambda_python3.9",
    "AWS_Lambda_python3.10",
    "AWS_Lambda_python3.11",
)


def _json_default(value):
    """Lambda's runtime encodes Decimal (what DynamoDB returns) as a JSON number."""
    import decimal

    if isinstance(value, decimal.Decimal):
        if value.is_nan():
            return float("nan")
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _marshal(result):
    if isinstance(result, bytes):  # bytes are the response as they are
        return result
    return json.dumps(result, ensure_ascii=_ENSURE_ASCII, default=_json_default).encode()


def _write(data):
    """Write to the log (fd 1) completely, whatever sys.stdout has become."""
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


class _RuntimeClient:
    """A minimal HTTP/1.1 client for the Runtime API over one keep-alive connection."""

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self._address = (host, int(port))
        self._sock = None
        self._buffer = b""

    def request(self, method, path, body=b"", headers=""):
        head = (
            f"{method} {_API_PREFIX}{path} HTTP/1.1\r\nHost: {self._address[0]}\r\n"
            f"Content-Length: {len(body)}\r\n{headers}\r\n"
        ).encode()
        if self._sock is None:
            self._sock = socket.create_connection(self._address)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._buffer = b""
        if len(body) < 65536:
            self._sock.sendall(head + body)
        else:
            self._sock.sendall(head)
            self._sock.sendall(body)
        return self._read_response()

    def _recv(self):
        chunk = self._sock.recv(262144)
        if not chunk:
            raise ConnectionError("the Runtime API closed the connection")
        return chunk

    def _read_response(self):
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        while end < 0:
            buffer += self._recv()
            end = buffer.find(b"\r\n\r\n")
        lines = buffer[:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        start = end + 4
        if len(buffer) - start >= length:
            body = buffer[start : start + length]
            self._buffer = buffer[start + length :]
        else:
            parts = [buffer[start:]]
            have = len(parts[0])
            while have < length:
                chunk = self._recv()
                parts.append(chunk)
                have += len(chunk)
            data = b"".join(parts)
            body, self._buffer = data[:length], data[length:]
        return status, headers, body


class _Identity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, document):
        self.cognito_identity_id = document.get("cognitoIdentityId")
        self.cognito_identity_pool_id = document.get("cognitoIdentityPoolId")


class _Client:
    __slots__ = (
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    )

    def __init__(self, document):
        for name in self.__slots__:
            setattr(self, name, document.get(name))


class _ClientContext:
    __slots__ = ("client", "custom", "env")

    def __init__(self, document):
        client = document.get("client")
        self.client = _Client(client) if isinstance(client, dict) else None
        self.custom = document.get("custom")
        self.env = document.get("env")


class LambdaContext:
    """The ``context`` argument of a handler, as Lambda's Python runtime defines it."""

    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
    memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
    log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")

    def __init__(self, request_id, deadline_ms, invoked_function_arn, client_context, identity):
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self._deadline_ms = deadline_ms
        self.client_context = _ClientContext(client_context) if client_context else None
        self.identity = _Identity(identity or {})

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def __repr__(self):
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


class _InitError(Exception):
    def __init__(self, error_type, message, stack=()):
        super().__init__(message)
        self.document = {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": "",
            "stackTrace": list(stack),
        }


def _stack(exc):
    """The traceback of ``exc`` as Lambda lists it, without this bootstrap's frames."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    return traceback.format_list(frames)


def _json_logs():
    return os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"


def _log_error(document):
    if _json_logs():
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        record = {"timestamp": stamp, "log_level": "ERROR", **document}
        _write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8", "replace"))
        return
    lines = [f"[ERROR] {document['errorType']}: {document['errorMessage']}"]
    if document.get("stackTrace"):
        lines.append("Traceback (most recent call last):")
        lines.extend(entry.rstrip("\n") for entry in document["stackTrace"])
    _write(("\r".join(lines).replace("\n", "\r") + "\n").encode("utf-8", "replace"))


def _load_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as exc:
        raise _InitError(
            "Runtime.MalformedHandlerName", f"Bad handler '{handler}': {exc}"
        ) from None
    modname = modname.replace("/", ".")
    if modname.startswith("."):
        raise _InitError("Runtime.MalformedHandlerName", f"Bad handler '{handler}'")
    import importlib

    try:
        module = importlib.import_module(modname)
    except ImportError as exc:
        raise _InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{modname}': {exc}"
        ) from None
    except SyntaxError as exc:
        stack = [f'  File "{exc.filename}" Line {exc.lineno}\n    {(exc.text or "").strip()}\n']
        raise _InitError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {exc}", stack
        ) from None
    except Exception as exc:
        raise _InitError(type(exc).__name__, str(exc), _stack(exc)) from None
    function = getattr(module, fname, None)
    if function is None:
        raise _InitError(
            "Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'"
        )
    return function


# Attributes every LogRecord has: not copied into a JSON record as extra fields.
_RECORD_ATTRIBUTES = frozenset(
    [
        "name",
        "msg",
        "args",
        "levelname",
        "levelno",
        "pathname",
        "filename",
        "module",
        "exc_info",
        "exc_text",
        "stack_info",
        "lineno",
        "funcName",
        "created",
        "msecs",
        "relativeCreated",
        "thread",
        "threadName",
        "processName",
        "process",
        "taskName",
        "message",
        "asctime",
    ]
)


def _json_record(record, message):
    """A log record as Lambda's Python runtime writes it in the JSON log format."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    level = record.levelname
    document = {
        "timestamp": f"{stamp}.{int(record.msecs):03d}Z",
        "level": {"WARNING": "WARN", "CRITICAL": "FATAL"}.get(level, level),
        "message": message,
        "logger": record.name,
    }
    if _request_id is not None:
        document["requestId"] = _request_id
    if record.exc_info and record.exc_info[0] is not None:
        import traceback

        kind, error, trace = record.exc_info
        document["errorType"] = kind.__name__
        document["errorMessage"] = str(error)
        document["stackTrace"] = traceback.format_tb(trace)
        document["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
    for key, value in record.__dict__.items():
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_") and key not in document:
            document[key] = value
    return json.dumps(document, ensure_ascii=False, default=str)


def _configure_logging(logging):
    as_json = _json_logs()

    class LambdaLogHandler(logging.Handler):
        def emit(self, record):
            try:
                if as_json:
                    line = _json_record(record, record.getMessage())
                else:
                    message = self.format(record)
                    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                    line = f"[{record.levelname}]\t{stamp}.{int(record.msecs):03d}Z\t{_request_id}\t{message}"
                _write((line.replace("\n", "\r") + "\n").encode("utf-8", "replace"))
            except Exception:
                self.handleError(record)

    root = logging.getLogger()
    root.addHandler(LambdaLogHandler())
    level = (os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").upper()
    if level in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"):
        # Python has no TRACE: Lambda's runtime treats it as DEBUG.
        root.setLevel({"TRACE": 10, "WARN": 30, "FATAL": 50}.get(level, level))


class _LoggingHook:
    """Configures ``logging`` the moment something imports it.

    Importing logging costs milliseconds of cold start; functions that never use it
    should not pay them, so instead of importing it up front this finder waits for the
    first ``import logging`` and installs Lambda's handler right after it executes.
    """

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "logging":
            return None
        sys.meta_path.remove(cls)
        import importlib.util

        spec = importlib.util.find_spec("logging")
        exec_module = spec.loader.exec_module

        def exec_and_configure(module):
            exec_module(module)
            _configure_logging(module)

        spec.loader.exec_module = exec_and_configure
        return spec


def _invoke(client, handler, status, headers, body):
    global _request_id
    request_id = headers.get("lambda-runtime-aws-request-id", "")
    _request_id = request_id
    trace_id = headers.get("lambda-runtime-trace-id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    path = f"/invocation/{request_id}"
    try:
        event = json.loads(body) if body else {}
        client_context = headers.get("lambda-runtime-client-context")
        identity = headers.get("lambda-runtime-cognito-identity")
        context = LambdaContext(
            request_id,
            int(headers.get("lambda-runtime-deadline-ms", "0")),
            headers.get("lambda-runtime-invoked-function-arn"),
            json.loads(client_context) if client_context else None,
            json.loads(identity) if identity else None,
        )
    except ValueError as exc:
        document = {
            "errorMessage": f"Unable to unmarshal input: {exc}",
            "errorType": "Runtime.UnmarshalError",
            "requestId": request_id,
            "stackTrace": [],
        }
    else:
        try:
            result = handler(event, context)
        except Exception as exc:
            document = {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "requestId": request_id,
                "stackTrace": _stack(exc),
            }
        else:
            try:
                payload = _marshal(result)
            except (TypeError, ValueError) as exc:
                document = {
                    "errorMessage": f"Unable to marshal response: {exc}",
                    "errorType": "Runtime.MarshalError",
                    "requestId": request_id,
                    "stackTrace": [],
                }
            else:
                client.request("POST", path + "/response", payload)
                return
    _log_error(document)
    client.request(
        "POST",
        path + "/error",
        json.dumps(document).encode(),
        f"Lambda-Runtime-Function-Error-Type: {document['errorType']}\r\n",
    )


class _Hooks:
    """AWS's ``snapshot_restore_py`` module (SnapStart's runtime hooks): functions
    registered to run before the snapshot is taken (reverse order of registration)
    and after each restore (in order). Usable as decorators."""

    def __init__(self):
        self.before, self.after = [], []

    def module(self):
        import types

        module = types.ModuleType("snapshot_restore_py")

        def register_before_snapshot(func, *args, **kwargs):
            self.before.append((func, args, kwargs))
            return func

        def register_after_restore(func, *args, **kwargs):
            self.after.append((func, args, kwargs))
            return func

        module.register_before_snapshot = register_before_snapshot
        module.register_after_restore = register_after_restore
        return module

    def run(self, hooks, error_type):
        """Run ``hooks``; an _InitError (``error_type``) if one raises."""
        for func, args, kwargs in hooks:
            try:
                func(*args, **kwargs)
            except Exception as exc:
                raise _InitError(error_type, str(exc), _stack(exc)) from None


def main():
    # The function's code comes first on sys.path, where this script's directory was.
    sys.path[0] = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    try:  # -S skipped site, and with it the exit()/quit() builtins functions may use
        import site

        site.setquit()
    except Exception:
        pass
    if "logging" in sys.modules:
        _configure_logging(sys.modules["logging"])
    else:
        sys.meta_path.insert(0, _LoggingHook)
    hooks = _Hooks()
    sys.modules["snapshot_restore_py"] = hooks.module()
    # Set by sandlot's zygote when this runtime is a SnapStart snapshot: after INIT it
    # serves restores, and returns in each restored environment (zygote_process.py).
    snapshot = globals().get("__sandlot_snapshot__")
    try:
        handler = _load_handler(os.environ.get("_HANDLER", ""))
        if snapshot is not None:
            hooks.run(reversed(hooks.before), "Runtime.BeforeSnapshotError")
    except _InitError as error:
        _log_error(error.document)
        if snapshot is not None:
            snapshot(error.document)  # does not return
        client = _RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
        client.request(
            "POST",
            "/init/error",
            json.dumps(error.document).encode(),
            f"Lambda-Runtime-Function-Error-Type: {error.document['errorType']}\r\n",
        )
        sys.exit(1)
    if snapshot is not None:
        snapshot()  # returns in a restored environment, with its own variables
        try:
            hooks.run(hooks.after, "Runtime.AfterRestoreError")
        except _InitError as error:
            _log_error(error.document)
            client = _RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
            client.request(
                "POST",
                "/restore/error",
                json.dumps(error.document).encode(),
                f"Lambda-Runtime-Function-Error-Type: {error.document['errorType']}\r\n",
            )
            sys.exit(1)
    client = _RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    while True:
        status, headers, body = client.request("GET", "/invocation/next")
        if status != 200:
            _write(f"sandlot runtime: /invocation/next answered {status}: {body!r}\n".encode())
            sys.exit(1)
        _invoke(client, handler, status, headers, body)


if __name__ == "__main__":
    main()
