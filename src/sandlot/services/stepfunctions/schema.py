"""The Step Functions component's tables.

State machines, their published versions and aliases, and activities are rows keyed by
ARN. A Standard execution is a row holding its status and the engine's last snapshot
(``snapshot``: what a restart resumes from) plus one row per history event; both are
written in one transaction at each checkpoint, so history and snapshot never disagree.
Task tokens (``.waitForTaskToken`` and activity tasks) are rows too: an activity task
waits in its activity's queue until a worker takes it (``taken``), and a token's
outcome (SendTaskSuccess/Failure) is written on its row before the execution is woken,
so an outcome sent while the server restarts is not lost. Express executions are not
stored (AWS keeps no history for them either).
"""

from __future__ import annotations

from sandlot.store import Migration, Table

MACHINES = Table(
    "sfn_state_machines",
    columns={
        "arn": "TEXT",
        "account_id": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "type": "TEXT",  # STANDARD | EXPRESS
        "definition": "TEXT",
        "role_arn": "TEXT",
        "description": "TEXT",
        "logging": "TEXT",  # JSON loggingConfiguration as AWS reports it
        "tracing": "TEXT",  # JSON tracingConfiguration
        "encryption": "TEXT",  # JSON encryptionConfiguration
        "created": "REAL",
        "revision_id": "TEXT",
        "next_version": "INTEGER",  # the number the next published version gets
        "tags": "TEXT",  # JSON list of {key, value}
    },
    key=("arn",),
    indexes=(("account_id", "region", "name"),),
)

VERSIONS = Table(
    "sfn_versions",
    columns={
        "arn": "TEXT",  # <machine ARN>:<number>
        "machine_arn": "TEXT",
        "version": "INTEGER",
        "definition": "TEXT",
        "role_arn": "TEXT",
        "type": "TEXT",
        "logging": "TEXT",
        "tracing": "TEXT",
        "encryption": "TEXT",
        "description": "TEXT",
        "revision_id": "TEXT",  # the machine's revision it was published from
        "created": "REAL",
    },
    key=("arn",),
    indexes=(("machine_arn", "version"),),
)

ALIASES = Table(
    "sfn_aliases",
    columns={
        "arn": "TEXT",  # <machine ARN>:<alias name>
        "machine_arn": "TEXT",
        "name": "TEXT",
        "description": "TEXT",
        "routing": "TEXT",  # JSON list of {stateMachineVersionArn, weight}
        "created": "REAL",
        "updated": "REAL",
    },
    key=("arn",),
    indexes=(("machine_arn", "name"),),
)

ACTIVITIES = Table(
    "sfn_activities",
    columns={
        "arn": "TEXT",
        "account_id": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "created": "REAL",
        "tags": "TEXT",
    },
    key=("arn",),
    indexes=(("account_id", "region", "name"),),
)

EXECUTIONS = Table(
    "sfn_executions",
    columns={
        "arn": "TEXT",
        "machine_arn": "TEXT",  # the unqualified state machine
        "version_arn": "TEXT",  # the version that runs, if started through one/an alias
        "alias_arn": "TEXT",
        "account_id": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "status": "TEXT",  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED
        "input": "TEXT",
        "output": "TEXT",
        "error": "TEXT",
        "cause": "TEXT",
        "started": "REAL",
        "stopped": "REAL",
        "definition": "TEXT",  # what runs (the machine may be updated meanwhile)
        "role_arn": "TEXT",
        "revision_id": "TEXT",
        "trace_header": "TEXT",
        "snapshot": "TEXT",  # the engine's last checkpoint (JSON) or NULL
        "events": "INTEGER",  # history events committed so far (the next id - 1)
        "redrive_count": "INTEGER",
        "redrive_date": "REAL",
        "map_run_arn": "TEXT",  # a Distributed Map's child: its Map Run
        "map_index": "INTEGER",  # and the child's place among the Map Run's inputs
    },
    key=("arn",),
    indexes=(("machine_arn", "started"), ("status",)),
)

HISTORY = Table(
    "sfn_history",
    columns={
        "execution_arn": "TEXT",
        "id": "INTEGER",
        "previous_id": "INTEGER",
        "timestamp": "REAL",
        "type": "TEXT",
        "details": "TEXT",  # JSON: {"<type>EventDetails"-member name: {...}}
    },
    key=("execution_arn", "id"),
)

TOKENS = Table(
    "sfn_task_tokens",
    columns={
        "token": "TEXT",
        "execution_arn": "TEXT",
        "state": "TEXT",
        "activity_arn": "TEXT",  # NULL: a .waitForTaskToken callback
        "input": "TEXT",  # an activity task's input (JSON text)
        "seq": "INTEGER",  # queue order of an activity's tasks
        "created": "REAL",
        "taken": "REAL",  # when a worker got the activity task (NULL: still queued)
        "worker": "TEXT",
        "heartbeat": "REAL",  # the last heartbeat (or when the task started)
        "heartbeat_s": "REAL",  # the state's HeartbeatSeconds (NULL: none)
        "status": "TEXT",  # PENDING | SUCCEEDED | FAILED | TIMED_OUT | CLOSED
        "output": "TEXT",
        "error": "TEXT",
        "cause": "TEXT",
    },
    key=("token",),
    indexes=(("activity_arn", "taken", "seq"), ("execution_arn",)),
)

MAP_RUNS = Table(
    "sfn_map_runs",
    columns={
        "arn": "TEXT",  # …:mapRun:<machine>/<label>:<id>
        "execution_arn": "TEXT",  # the parent execution
        "machine_arn": "TEXT",  # the parent's state machine
        "state": "TEXT",  # the Map state's name
        "label": "TEXT",
        "status": "TEXT",  # RUNNING | SUCCEEDED | FAILED | ABORTED
        "started": "REAL",
        "stopped": "REAL",
        "execution_type": "TEXT",  # the children's: STANDARD | EXPRESS
        "definition": "TEXT",  # the children's (the ItemProcessor)
        "role_arn": "TEXT",
        "inputs": "TEXT",  # JSON list: each child's input
        "item_sizes": "TEXT",  # JSON list: the items in each child's input (batches)
        "max_concurrency": "INTEGER",  # 0: unlimited (UpdateMapRun may change these)
        "tolerated_count": "INTEGER",
        "tolerated_percent": "REAL",
        "destination": "TEXT",  # JSON {Bucket, Prefix} of the ResultWriter, or NULL
        "results_written": "INTEGER",
        "error": "TEXT",
        "cause": "TEXT",
        "redrive_count": "INTEGER",
        "redrive_date": "REAL",
    },
    key=("arn",),
    indexes=(("execution_arn", "started"),),
)

MIGRATIONS = [
    Migration(1, create=MACHINES),
    Migration(2, create=VERSIONS),
    Migration(3, create=ALIASES),
    Migration(4, create=ACTIVITIES),
    Migration(5, create=EXECUTIONS),
    Migration(6, create=HISTORY),
    Migration(7, create=TOKENS),
    Migration(8, add_column=(EXECUTIONS, "map_run_arn")),
    Migration(9, add_column=(EXECUTIONS, "map_index")),
    Migration(10, create=MAP_RUNS),
]
