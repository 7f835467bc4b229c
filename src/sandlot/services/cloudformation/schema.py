"""The CloudFormation tables: stacks, their resources, their events, change sets.

A stack operation's progress lives here, row by row (each resource's status and
physical id, the stack's status and the operation's plan), so that after a restart an
operation left IN_PROGRESS is resumed or rolled back (see ``engine.recover``).
"""

from __future__ import annotations

from sandlot.store import Migration, Table

STACKS = Table(
    "cfn_stacks",
    columns={
        "stack_id": "TEXT",  # arn:aws:cloudformation:region:account:stack/name/uuid
        "account_id": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "status": "TEXT",
        "reason": "TEXT",
        "template": "TEXT",  # the body as given (GetTemplate Original)
        "processed": "TEXT",  # JSON, transforms applied (GetTemplate Processed)
        "parameters": "TEXT",  # JSON {name: raw value}
        "outputs": "TEXT",  # JSON list of Outputs as DescribeStacks shows them
        "capabilities": "TEXT",  # JSON list
        "tags": "TEXT",  # JSON list of {Key, Value}
        "role_arn": "TEXT",
        "principal": "TEXT",  # JSON of the Principal the operations act as
        "description": "TEXT",
        "disable_rollback": "INTEGER",
        "termination_protection": "INTEGER",
        "created": "REAL",
        "updated": "REAL",
        "deleted": "REAL",
        "previous": "TEXT",  # JSON {template, parameters} an update rolls back to
    },
    key=("stack_id",),
    indexes=(("account_id", "region", "name"),),
)

RESOURCES = Table(
    "cfn_stack_resources",
    columns={
        "stack_id": "TEXT",
        "logical_id": "TEXT",
        "type": "TEXT",
        "physical_id": "TEXT",  # None until known; a name chosen before create is kept
        "status": "TEXT",
        "reason": "TEXT",
        "properties": "TEXT",  # JSON: the resolved properties last applied
        "ref": "TEXT",  # JSON: the Ref value
        "attributes": "TEXT",  # JSON: GetAtt values
        "policy": "TEXT",  # DeletionPolicy
        "replaced": "TEXT",  # JSON list of old physical ids to delete in cleanup
        "updated": "REAL",
    },
    key=("stack_id", "logical_id"),
)

EVENTS = Table(
    "cfn_stack_events",
    columns={
        "stack_id": "TEXT",
        "seq": "INTEGER",
        "event_id": "TEXT",
        "logical_id": "TEXT",
        "physical_id": "TEXT",
        "type": "TEXT",
        "status": "TEXT",
        "reason": "TEXT",
        "properties": "TEXT",
        "timestamp": "REAL",
    },
    key=("stack_id", "seq"),
)

CHANGE_SETS = Table(
    "cfn_change_sets",
    columns={
        "change_set_id": "TEXT",
        "stack_id": "TEXT",
        "name": "TEXT",
        "type": "TEXT",  # CREATE | UPDATE
        "status": "TEXT",
        "execution_status": "TEXT",
        "reason": "TEXT",
        "template": "TEXT",
        "parameters": "TEXT",  # JSON {name: raw value}
        "capabilities": "TEXT",
        "tags": "TEXT",
        "role_arn": "TEXT",
        "changes": "TEXT",  # JSON list of Changes
        "description": "TEXT",
        "created": "REAL",
    },
    key=("change_set_id",),
    indexes=(("stack_id",),),
)

CALLBACKS = Table(
    "cfn_callbacks",
    columns={
        "token": "TEXT",  # the secret in the callback URL (or a wait's own key)
        "kind": "TEXT",  # custom (a custom resource request) | handle | wait
        "stack_id": "TEXT",
        "logical_id": "TEXT",
        "request_type": "TEXT",  # custom: Create | Update | Delete
        "request": "TEXT",  # custom: the request JSON as sent (resent if not yet sent)
        "sent": "INTEGER",  # custom: the request reached its ServiceToken
        "deadline": "REAL",  # epoch seconds; custom and wait
        "response": "TEXT",  # custom: the answer's JSON; handle: {UniqueId: signal}
        "created": "REAL",
    },
    key=("token",),
    indexes=(("stack_id", "logical_id"),),
)

MACROS = Table(
    "cfn_macros",
    columns={
        "account_id": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "function_name": "TEXT",  # the Lambda function (name or ARN) the macro runs
        "stack_id": "TEXT",  # the stack whose AWS::CloudFormation::Macro made it
        "created": "REAL",
    },
    key=("account_id", "region", "name"),
)

MIGRATIONS = [
    Migration(1, create=STACKS),
    Migration(2, create=RESOURCES),
    Migration(3, create=EVENTS),
    Migration(4, create=CHANGE_SETS),
    Migration(5, create=CALLBACKS),
    Migration(6, create=MACROS),
]
