"""The Amazon States Language: parsing, validation and execution of state machines.

A pure package (no store, no HTTP, no Platform): the Step Functions service gives each
Execution a Runtime that performs its tasks, sleeps, records history and checkpoints.
The contract is in docs/architecture.md ("Step Functions engine").
"""

from .definition import StateMachine, diagnostics, parse
from .engine import Execution, Result, Runtime, run_test_state
from .errors import InvalidDefinition, InvalidMock, StatesError, TaskFailure

__all__ = [
    "Execution",
    "InvalidDefinition",
    "InvalidMock",
    "Result",
    "Runtime",
    "StateMachine",
    "StatesError",
    "TaskFailure",
    "diagnostics",
    "parse",
    "run_test_state",
]
