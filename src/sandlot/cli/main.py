"""The `sandlot` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sandlot import __version__
from sandlot.cli import clients, cognito, iam, invoke, logs, sns, urls
from sandlot.config import Settings, default_data_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sandlot", description="A self-hosted serverless cloud speaking the AWS APIs."
    )
    parser.add_argument("--version", action="version", version=f"sandlot {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the server (defaults: SANDLOT_* variables)")
    up.add_argument("--host", help="address to bind (default 127.0.0.1)")
    up.add_argument("--port", type=int, help="port to listen on (default 4566; 0 = any free)")
    up.add_argument(
        "--https-port",
        type=int,
        help="port for HTTPS (default: --port + 1, any free one when --port is 0)",
    )
    up.add_argument(
        "--no-https",
        dest="https",
        action="store_false",
        default=None,
        help="serve plain HTTP only",
    )
    up.add_argument("--data-dir", type=Path, help="where state lives (default: user data dir)")
    up.add_argument(
        "--ephemeral",
        action="store_true",
        default=None,
        help="use a temporary data dir, removed on exit",
    )
    up.add_argument(
        "--secure",
        action="store_true",
        default=None,
        help="require SigV4 signatures from known keys (mandatory off loopback)",
    )
    up.add_argument("--region", help="region for unsigned requests (default us-east-1)")
    up.add_argument(
        "--sandbox",
        choices=("auto", "process", "linux"),
        help="where Lambda functions run: linux (namespaces + cgroups), process "
        "(no isolation), or auto: linux where it works, else process (default auto)",
    )
    up.add_argument(
        "--iam",
        choices=("enforce", "soft", "off"),
        help="IAM policy evaluation: enforce (deny what AWS would deny), soft (log would-be "
        "denials, allow them) or off (default enforce)",
    )
    up.add_argument(
        "--cors-allowed-origins",
        metavar="ORIGINS",
        help="comma-separated origins of web pages that may use dev mode's unsigned access "
        "and get CORS answers, e.g. http://localhost:3000 (default: only sandlot's own)",
    )
    up.add_argument(
        "--otlp-endpoint",
        metavar="URL",
        help="also export X-Ray traces as OpenTelemetry spans to this OTLP/HTTP collector, "
        "e.g. http://localhost:4318 (default: none)",
    )
    ca = commands.add_parser(
        "ca",
        help="print the path of the local CA certificate HTTPS clients trust "
        "(export AWS_CA_BUNDLE=$(sandlot ca)); creates the CA if there is none yet",
    )
    ca.add_argument("--data-dir", type=Path, help="the server's data dir (default: user data dir)")
    logs.add_parser(commands)
    iam.add_parser(commands)
    invoke.add_parser(commands)
    sns.add_parser(commands)
    cognito.add_parser(commands)
    urls.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except clients.AdminError as exc:
        print(f"sandlot: {exc}", file=sys.stderr)
        return exc.exit_code


def _run(args: argparse.Namespace) -> int:
    if args.command == "logs":
        return logs.run(args)
    if args.command == "invoke":
        return invoke.run(args)
    if args.command == "iam":
        return iam.run(args)
    if args.command == "sns":
        return sns.run(args)
    if args.command == "cognito":
        return cognito.run(args)
    if args.command == "urls":
        return urls.run(args)
    if args.command == "ca":
        from sandlot.gateway.tls import ensure_ca

        settings = Settings.from_env(data_dir=args.data_dir)
        old = os.umask(0o077)  # as the server: the CA's key is its user's alone
        try:
            print(ensure_ca(settings.data_dir or default_data_dir()))
        finally:
            os.umask(old)
        return 0
    if args.command == "up":
        from sandlot.gateway.server import StartupError, run

        settings = Settings.from_env(
            host=args.host,
            port=args.port,
            https=args.https,
            https_port=args.https_port,
            data_dir=args.data_dir,
            ephemeral=args.ephemeral,
            secure=args.secure,
            region=args.region,
            sandbox=args.sandbox,
            iam=args.iam,
            cors_allowed_origins=args.cors_allowed_origins,
            otlp_endpoint=args.otlp_endpoint,
        )
        from sandlot.execution.network import resolve_network
        from sandlot.execution.sandbox import resolve_backend

        try:
            settings.sandbox, warning = resolve_backend(settings.sandbox)
            isolated, network_warning = resolve_network(settings.function_network, settings.sandbox)
        except ValueError as exc:
            print(f"sandlot: {exc}", file=sys.stderr)
            return 2
        for line in (warning, network_warning if settings.sandbox == "linux" else None):
            if line:
                print(f"sandlot: {line}", file=sys.stderr)
        try:
            run(settings)
        except ValueError as exc:
            print(f"sandlot: {exc}", file=sys.stderr)
            return 2
        except StartupError as exc:
            print(f"sandlot: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
