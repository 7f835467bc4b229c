"""AWS Step Functions: state machines (Standard and Express) with versions and aliases,
executions run by the language engine (``asl/``) with durable Standard executions,
service integrations, task tokens and activities, and CloudFormation resource types
(``resources.py``).

Layout: ``machines.py`` (state machines, versions, aliases, tags, validation),
``executions.py`` (executions, history, resumption, Express logs), ``maprun.py``
(Distributed Map runs and their child executions), ``runtime.py`` (the
engine's Runtime per execution), ``integrations.py`` (Task resources), ``tasks.py``
(task tokens, activities), ``base.py`` (ARNs, lookups, errors), ``schema.py`` (tables).
"""

from __future__ import annotations

from sandlot.services.stepfunctions.executions import ExecutionOperations
from sandlot.services.stepfunctions.machines import MachineOperations
from sandlot.services.stepfunctions.maprun import MapRunOperations
from sandlot.services.stepfunctions.tasks import TaskOperations


class StepFunctionsProvider(
    MapRunOperations, ExecutionOperations, TaskOperations, MachineOperations
):
    """All Step Functions operations sandlot serves; see the module docstring."""
