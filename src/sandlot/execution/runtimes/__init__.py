"""Lambda runtimes: which interpreter runs an environment, with which command and variables.

A function runs on the major.minor version its runtime names, or not at all:

- ``python3.X``: sandlot's ``python_bootstrap.py`` on a Python 3.X found on this host
  (python.py says where it looks), with the packages Lambda's Python runtime provides
  (boto3 and its dependencies) on PYTHONPATH after the layers.
- ``nodejsNN.x`` (18 and later): ``node_bootstrap.js`` on a Node.js NN found on this
  host or provisioned from the npm registry (node.py), with the AWS SDK for JavaScript
  v3 on NODE_PATH after the layers.
- ``ruby3.X``: ``ruby_bootstrap.rb`` on a Ruby 3.X found on this host (ruby.py), with
  the layers' ``/opt/ruby/lib`` and gems on RUBYLIB/GEM_PATH.
- ``javaNN`` (11 and later): AWS's Java Runtime Interface Client (fetched once from
  Maven Central, java.py) on the JDK NN found on this host, its jars shown where the
  Node.js runtimes' SDK is.
- ``provided``, ``provided.al2``, ``provided.al2023``: the executable ``bootstrap`` of
  the deployment package, else of the layers (``/opt/bootstrap``), as Lambda looks.

Any other runtime AWS offers (``dotnet*``, ``java8.al2``) is accepted by
CreateFunction and fails INIT with ``Runtime.InvalidRuntime``, as does a Python or
Node.js version that is not on this host; the message says how to provide it.

``prepare`` finds the interpreter (blocking: the engine calls it off the event loop,
and only on a cache miss); ``launch`` makes the command and variables.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from sandlot.execution.api import FunctionSpec
from sandlot.execution.runtimes import java, node, python, ruby
from sandlot.execution.sandbox import Layout

RUNTIME_DIR = Path(__file__).resolve().parent
PYTHON = python.SERVER_PYTHON
PROVIDED_RUNTIMES = frozenset({"provided", "provided.al2", "provided.al2023"})
_PYTHON = re.compile(r"python3\.(\d+)")
_NODE = re.compile(r"nodejs(\d+)\.x")
_RUBY = re.compile(r"ruby3\.(\d+)")
_JAVA = re.compile(r"java(\d+)")
OLDEST_JAVA = 11  # java8.al2 would need the RIC's Java 8 build and a JDK 8: not provided
OLDEST_NODE = 18  # AWS's oldest Node.js runtime still running; sandlot's bootstrap needs it
# Lambda's PATH for its managed runtimes (before the layers' bin); /var/lang/bin is where
# the runtime's interpreter is in the linux sandbox.
LAMBDA_PATH = "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"


class RuntimeUnavailable(Exception):
    """The runtime cannot start; reported to the invoker as an init error."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


@dataclass(frozen=True, slots=True)
class Prepared:
    """What runs a runtime on this host (``prepare``'s answer)."""

    runtime: str
    executable: str | None = None  # the interpreter (None: provided*)
    prefix: str | None = None  # its installation, shown to the linux sandbox
    version: str | None = None
    # Python: boto3 & co (None: those installed for sandlot); Node.js: the SDK's node_modules
    packages: Path | None = None
    notice: str | None = None  # a line for the function's log at INIT


@dataclass(frozen=True, slots=True)
class Launch:
    """How to start one environment's runtime."""

    argv: tuple[str, ...]
    env: dict[str, str]  # runtime-specific variables, overridable by the function's own
    execution_env: str | None  # AWS_EXECUTION_ENV (Lambda sets none for provided*)
    notice: str | None = None  # a line for the log at INIT


_prepared: dict[str, Prepared] = {}
_lock = threading.Lock()


def prepared(runtime: str) -> Prepared | None:
    """``prepare``'s answer if it has been found before (no blocking work)."""
    return _prepared.get(runtime)


def prepare(runtime: str) -> Prepared:
    """Find (or provision) what runs ``runtime``. Blocking; raises RuntimeUnavailable.

    Successes are cached for the server's lifetime.
    """
    found = _prepared.get(runtime)
    if found is not None:
        return found
    found = _prepare(runtime)
    with _lock:
        return _prepared.setdefault(runtime, found)


def _prepare(runtime: str) -> Prepared:
    if runtime in PROVIDED_RUNTIMES:
        return Prepared(runtime)
    match = _PYTHON.fullmatch(runtime)
    if match and int(match.group(1)) >= 9:
        minor = int(match.group(1))
        try:
            interpreter = python.find(minor)
            packages = None  # those installed for sandlot (the engine links them)
            if not python.server_packages_support(minor):
                packages = python.provided_packages(minor)
        except python.NotFound as exc:
            raise RuntimeUnavailable("Runtime.InvalidRuntime", f"sandlot: {exc}") from None
        return Prepared(
            runtime, interpreter.executable, interpreter.prefix, interpreter.version_text, packages
        )
    match = _NODE.fullmatch(runtime)
    if match and int(match.group(1)) >= OLDEST_NODE:
        major = int(match.group(1))
        try:
            found = node.find(major)
        except node.NotFound as exc:
            raise RuntimeUnavailable("Runtime.InvalidRuntime", f"sandlot: {exc}") from None
        notice = sdk = None
        try:
            sdk = node.sdk(major)
        except node.NotFound as exc:
            notice = f"sandlot: the AWS SDK for JavaScript v3 is not provided: {exc}"
        return Prepared(runtime, found.executable, found.prefix, found.version_text, sdk, notice)
    match = _RUBY.fullmatch(runtime)
    if match and int(match.group(1)) >= 2:
        try:
            found = ruby.find(int(match.group(1)))
        except ruby.NotFound as exc:
            raise RuntimeUnavailable("Runtime.InvalidRuntime", f"sandlot: {exc}") from None
        return Prepared(runtime, found.executable, found.prefix, found.version_text)
    match = _JAVA.fullmatch(runtime)
    if match and int(match.group(1)) >= OLDEST_JAVA:
        try:
            jdk = java.find(int(match.group(1)))
            jars = java.ric()
            java.jni_library(jars)
        except java.NotFound as exc:
            raise RuntimeUnavailable("Runtime.InvalidRuntime", f"sandlot: {exc}") from None
        return Prepared(runtime, jdk.executable, jdk.home, jdk.version, jars)
    raise RuntimeUnavailable(
        "Runtime.InvalidRuntime",
        f"sandlot cannot run the {runtime} runtime: it runs python3.9 and later, "
        f"nodejs{OLDEST_NODE}.x and later, ruby3.2 and later, java{OLDEST_JAVA} and later, "
        "and provided.al2023/provided.al2/provided "
        "(a custom runtime: an executable `bootstrap` in the package or a layer, which "
        f"can start any language's runtime). Update the function's Runtime to one of those.",
    )


def snapshot_refusal(found: Prepared) -> str | None:
    """Why a SnapStart snapshot of ``found``'s runtime cannot be made on this host, where
    that is known from the runtime alone (Java: its JVM's CRaC support); else None."""
    if _JAVA.fullmatch(found.runtime) and found.prefix:
        return java.snapstart_unsupported(found.runtime, found.prefix, found.version or "")
    return None


def launch(
    spec: FunctionSpec,
    layout: Layout,
    code_dir: Path,
    opt_dir: Path,
    found: Prepared,
    java_options: tuple[str, ...] = (),
) -> Launch:
    """The command and variables for ``spec``'s runtime, run by ``found``.

    ``code_dir`` and ``opt_dir`` are the host's view (to find a bootstrap);
    ``java_options`` are more JVM flags for ``java*`` (a class-data sharing archive).
    """
    opt = layout.opt
    host_path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    # The linux sandbox shows the interpreter at /var/lang/bin, as Lambda does; the
    # process backend runs on the host, whose PATH the runtime needs.
    path = LAMBDA_PATH if layout.interpreter_dir else _join(host_path, f"{opt}/bin")
    env = {
        "PATH": path,
        "LD_LIBRARY_PATH": _join(
            f"{layout.task_root}/lib", f"{opt}/lib", os.environ.get("LD_LIBRARY_PATH", "")
        ),
    }
    runtime = spec.runtime
    notice = found.notice
    if spec.architecture == "arm64" and os.uname().machine != "aarch64":
        line = (
            f"sandlot: this arm64 function runs on {os.uname().machine} (the host's architecture)"
        )
        notice = f"{notice}\n{line}" if notice else line
    match = _PYTHON.fullmatch(runtime)
    if match and found.executable:
        minor = int(match.group(1))
        # Lambda's order: the code (the bootstrap puts it first), the layers, then the
        # runtime's own packages, which layers can therefore override.
        env["PYTHONPATH"] = _join(
            f"{opt}/python/lib/python3.{minor}/site-packages",
            f"{opt}/python",
            layout.python_packages,
        )
        # -u: unbuffered output, so each line reaches the log as it is printed.
        # -S: no site-packages of the host; functions see what Lambda's runtime has.
        executable = _inside(layout, found.executable, "python")
        argv = (executable, "-S", "-u", f"{layout.runtime_dir}/python_bootstrap.py")
        return Launch(argv, env, f"AWS_Lambda_{runtime}", notice)
    match = _NODE.fullmatch(runtime)
    if match and found.executable:
        major = int(match.group(1))
        # AWS's order: layers (per-version, then common), the runtime's SDK, the code.
        env["NODE_PATH"] = _join(
            f"{opt}/nodejs/node{major}/node_modules",
            f"{opt}/nodejs/node_modules",
            layout.node_modules if found.packages else "",
            layout.runtime_dir,
            layout.task_root,
        )
        executable = _inside(layout, found.executable, "node")
        # ES modules do not read NODE_PATH: node_paths.mjs lets `import` find the SDK
        # and the layers' packages as CommonJS `require` does. Only for ES module
        # handlers: its hooks cost CommonJS functions' cold starts for nothing.
        hooks = ()
        if _es_module_handler(code_dir, spec.handler):
            hooks = ("--import", f"{layout.runtime_dir}/node_paths.mjs")
        argv = (executable, *hooks, f"{layout.runtime_dir}/node_bootstrap.js")
        return Launch(argv, env, f"AWS_Lambda_{runtime}", notice)
    if _RUBY.fullmatch(runtime) and found.executable:
        # AWS's Ruby runtime: layers' gems and libraries (/opt/ruby/…), then the code.
        env["RUBYLIB"] = _join(f"{opt}/ruby/lib", layout.task_root)
        env["GEM_PATH"] = f"{opt}/ruby/gems/{found.version[: found.version.rfind('.')]}.0"
        executable = _inside(layout, found.executable, "ruby")
        argv = (executable, f"{layout.runtime_dir}/ruby_bootstrap.rb")
        return Launch(argv, env, f"AWS_Lambda_{runtime}", notice)
    if _JAVA.fullmatch(runtime) and found.executable and found.packages:
        # The RIC loads the handler from the task root, its lib/ and /opt/java/lib
        # itself (as in Lambda), so only its own jars are on the class path.
        jars = java_class_path(layout, found)
        executable = _inside(layout, found.executable, "java")
        options = (*java.jvm_options(spec.memory_mb), *java_options)
        jni = java.jni_name()
        if jni and (found.packages / "jni" / jni).is_file():
            ric_dir = layout.node_modules or found.packages
            options = (*options, f"-D{java.JNI_PROPERTY}={ric_dir}/jni/{jni}")
        argv = (executable, *options, "-cp", jars, java.RIC_MAIN, spec.handler)
        return Launch(argv, env, f"AWS_Lambda_{runtime}", notice)
    if runtime in PROVIDED_RUNTIMES:
        minor = sys.version_info.minor
        env["PYTHONPATH"] = _join(
            f"{opt}/python/lib/python3.{minor}/site-packages", f"{opt}/python"
        )
        if (code_dir / "bootstrap").is_file():
            return Launch((f"{layout.task_root}/bootstrap",), env, None, notice)
        # Merged layers are links to where the sandbox shows the layers, maybe not here.
        if (opt_dir / "bootstrap").is_file() or (opt_dir / "bootstrap").is_symlink():
            return Launch((f"{opt}/bootstrap",), env, None, notice)
        raise RuntimeUnavailable(
            "Runtime.InvalidEntrypoint",
            f"Couldn't find valid bootstrap(s): [{layout.task_root}/bootstrap {opt}/bootstrap]",
        )
    raise RuntimeUnavailable(
        "Runtime.InvalidRuntime", f"sandlot does not support the runtime {runtime!r}"
    )


def java_class_path(layout: Layout, found: Prepared) -> str:
    """The RIC's class path as the JVM in the sandbox sees it."""
    return f"{layout.node_modules or found.packages}/*"


def _es_module_handler(code_dir: Path, handler: str) -> bool:
    """Whether the handler's file is an ES module (``.mjs``, or ``.js`` under a
    ``package.json`` saying ``"type": "module"``), as Node.js decides."""
    directory, _, name = handler.rpartition("/")
    base = code_dir / directory / name.split(".", 1)[0]
    if base.with_name(base.name + ".mjs").is_file():
        return True
    if not base.with_name(base.name + ".js").is_file():
        return False
    folder = base.parent
    while True:
        manifest = folder / "package.json"
        if manifest.is_file():
            try:
                return json.loads(manifest.read_text()).get("type") == "module"
            except (OSError, ValueError, AttributeError):
                return False
        if folder == code_dir or code_dir not in folder.parents:
            return False
        folder = folder.parent


def _inside(layout: Layout, executable: str, name: str) -> str:
    """Where the sandbox shows the interpreter: ``/var/lang/bin/<name>`` in the linux
    sandbox (its installation is bound at /var/lang), its host path otherwise."""
    if not layout.interpreter_dir:
        return executable
    return f"{layout.interpreter_dir}/{os.path.basename(executable) or name}"


def _join(*parts: str) -> str:
    return ":".join(part for part in parts if part)
