"""Client tools that cannot share the test environment, installed on first use.

The SAM CLI pins its own boto3/botocore, newer than the versions the suite pins for
awscli, so it lives in its own virtual environment (``.venv-sam`` at the repository
root), created once and reused.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAM_VERSION = "1.170.0"


def sam_cli() -> Path:
    """The path of a `sam` executable of the pinned version, installing it if needed."""
    venv = ROOT / ".venv-sam"
    sam = venv / "bin" / "sam"
    with open(ROOT / ".venv-sam.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _has_version(sam):
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            subprocess.run(
                [str(venv / "bin" / "pip"), "install", "-q", f"aws-sam-cli=={SAM_VERSION}"],
                check=True,
                timeout=900,
            )
    return sam


def _has_version(sam: Path) -> bool:
    if not sam.exists():
        return False
    result = subprocess.run([str(sam), "--version"], capture_output=True, text=True)
    return SAM_VERSION in result.stdout


SNS_VALIDATOR_VERSION = "0.3.5"


def sns_validator() -> Path:
    """A ``node_modules`` holding npm's ``sns-validator`` (the pinned version), the
    message validator Node.js receivers use, installed with npm on first use."""
    prefix = ROOT / ".node-tools"
    package = prefix / "node_modules" / "sns-validator" / "package.json"
    with open(ROOT / ".node-tools.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not package.exists() or f'"{SNS_VALIDATOR_VERSION}"' not in package.read_text():
            prefix.mkdir(exist_ok=True)
            subprocess.run(
                ["npm", "install", "--prefix", str(prefix), "--no-save", "--no-audit",
                 "--no-fund", f"sns-validator@{SNS_VALIDATOR_VERSION}"],
                check=True,
                timeout=300,
                capture_output=True,
            )  # fmt: skip
    return prefix / "node_modules"


# The AWS CDK: the CLI (npm "aws-cdk") and the construct library a JavaScript app uses.
CDK_PACKAGES = {"aws-cdk": "2.1148.1", "aws-cdk-lib": "2.276.0", "constructs": "10.8.1"}


def cdk_modules() -> Path:
    """A ``node_modules`` holding the pinned CDK CLI and aws-cdk-lib, installed with npm
    on first use (``.cdk-tools`` at the repository root)."""
    prefix = ROOT / ".cdk-tools"
    with open(ROOT / ".cdk-tools.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all(_npm_has(prefix, name, version) for name, version in CDK_PACKAGES.items()):
            prefix.mkdir(exist_ok=True)
            subprocess.run(
                ["npm", "install", "--prefix", str(prefix), "--no-save", "--no-audit",
                 "--no-fund", *(f"{n}@{v}" for n, v in CDK_PACKAGES.items())],
                check=True,
                timeout=600,
                capture_output=True,
            )  # fmt: skip
    return prefix / "node_modules"


def _npm_has(prefix: Path, name: str, version: str) -> bool:
    package = prefix / "node_modules" / name / "package.json"
    return package.exists() and json.loads(package.read_text()).get("version") == version
