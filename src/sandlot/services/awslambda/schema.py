"""Lambda's durable state: tables and their migrations.

Every row is scoped by (account, region), as Lambda resources are. Versions are keyed
by ``version_num`` (0 for ``$LATEST``, 1, 2, … for published versions) so that they
sort as AWS lists them.

Code packages (function zips and layer zips alike) are content-addressed: one
``lambda_code`` row and one blob per distinct SHA-256, shared by every version and
layer whose package has that digest. ``lambda_code_refs`` says who uses a package, so
the last user to go can delete the blob and the extracted directory.
"""

from __future__ import annotations

from sandlot.store import Migration, Table

FUNCTIONS = Table(
    "lambda_functions",
    {
        "account": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "tags": "TEXT",  # JSON object
        "reserved_concurrency": "INTEGER",  # NULL: none reserved
        "recursive_loop": "TEXT",  # RecursiveLoop; NULL: Terminate (the default)
        "last_version": "INTEGER",  # highest version number ever published
        "created_at": "REAL",
    },
    ("account", "region", "name"),
)

VERSIONS = Table(
    "lambda_versions",
    {
        "account": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "version_num": "INTEGER",
        "config": "TEXT",  # JSON: the configuration as last written (what Get returns)
        "active_config": "TEXT",  # JSON: the configuration that runs; NULL until Active
        "code_sha": "TEXT",  # hex SHA-256 of the package in ``config``
        "code_size": "INTEGER",
        "state": "TEXT",
        "state_reason": "TEXT",
        "state_reason_code": "TEXT",
        "update_status": "TEXT",
        "update_reason": "TEXT",
        "update_reason_code": "TEXT",
        "revision_id": "TEXT",
        "last_modified": "TEXT",
    },
    ("account", "region", "name", "version_num"),
)

ALIASES = Table(
    "lambda_aliases",
    {
        "account": "TEXT",
        "region": "TEXT",
        "function": "TEXT",
        "name": "TEXT",
        "function_version": "TEXT",
        "description": "TEXT",
        "routing": "TEXT",  # JSON: AdditionalVersionWeights, or NULL
        "revision_id": "TEXT",
    },
    ("account", "region", "function", "name"),
)

# Resource-based policies, one per function qualifier ("" is the unqualified function).
POLICIES = Table(
    "lambda_policies",
    {
        "account": "TEXT",
        "region": "TEXT",
        "function": "TEXT",
        "qualifier": "TEXT",
        "statements": "TEXT",  # JSON list, in the order they were added
    },
    ("account", "region", "function", "qualifier"),
)

LAYER_NAMES = Table(
    "lambda_layer_names",
    {"account": "TEXT", "region": "TEXT", "name": "TEXT", "last_version": "INTEGER"},
    ("account", "region", "name"),
)

LAYERS = Table(
    "lambda_layers",
    {
        "account": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "version": "INTEGER",
        "description": "TEXT",
        "license_info": "TEXT",
        "compatible_runtimes": "TEXT",  # JSON list or NULL
        "compatible_architectures": "TEXT",  # JSON list or NULL
        "created_date": "TEXT",
        "code_sha": "TEXT",
        "code_size": "INTEGER",
    },
    ("account", "region", "name", "version"),
)

CODE = Table(
    "lambda_code",
    {
        "sha": "TEXT",
        "blob_id": "TEXT",
        "size": "INTEGER",
        "unzipped_size": "INTEGER",
    },
    ("sha",),
)

# Who holds a code package: ``owner`` is "function:<account>:<region>:<name>:<version_num>"
# or "layer:<account>:<region>:<name>:<version>".
CODE_REFS = Table(
    "lambda_code_refs",
    {"sha": "TEXT", "owner": "TEXT"},
    ("sha", "owner"),
    indexes=(("owner",),),
)

# Provisioned concurrency configurations, one per published version or alias
# (``qualifier``); how far allocation got is the engine's, not stored.
PROVISIONED = Table(
    "lambda_provisioned_concurrency",
    {
        "account": "TEXT",
        "region": "TEXT",
        "function": "TEXT",
        "qualifier": "TEXT",
        "requested": "INTEGER",
        "last_modified": "TEXT",
    },
    ("account", "region", "function", "qualifier"),
)

# Event source mappings (pollers that invoke a function with batches from a queue or
# stream). ``state`` is AWS's (Creating, Enabled, Updating, Disabling, Disabled,
# Enabling, Deleting); the transitional ones are completed by the poller engine, also
# after a restart. ``settings`` holds the mapping's parameters as AWS reports them.
MAPPINGS = Table(
    "lambda_event_source_mappings",
    {
        "uuid": "TEXT",
        "account": "TEXT",
        "region": "TEXT",
        "function": "TEXT",  # the function's name
        "qualifier": "TEXT",  # version or alias the mapping invokes, or NULL
        "source_arn": "TEXT",
        "state": "TEXT",
        "state_reason": "TEXT",
        "last_modified": "REAL",
        "created_at": "REAL",
        "settings": "TEXT",  # JSON object
        "tags": "TEXT",  # JSON object
    },
    ("uuid",),
    indexes=(("account", "region", "function"), ("source_arn",)),
)

FUNCTION_URLS = Table(
    "lambda_function_urls",
    {
        "account": "TEXT",
        "region": "TEXT",
        "function": "TEXT",
        "qualifier": "TEXT",  # the alias it invokes, "" for the function itself
        "url_id": "TEXT",  # the host's first label
        "auth_type": "TEXT",  # NONE | AWS_IAM
        "cors": "TEXT",  # JSON object, {} when none
        "invoke_mode": "TEXT",  # BUFFERED | RESPONSE_STREAM
        "created": "TEXT",
        "modified": "TEXT",
    },
    ("account", "region", "function", "qualifier"),
    indexes=(("url_id",),),
)

MIGRATIONS = [
    Migration(1, create=FUNCTIONS),
    Migration(2, create=VERSIONS),
    Migration(3, create=ALIASES),
    Migration(4, create=POLICIES),
    Migration(5, create=LAYER_NAMES),
    Migration(6, create=LAYERS),
    Migration(7, create=CODE),
    Migration(8, create=CODE_REFS),
    Migration(9, create=PROVISIONED),
    Migration(10, create=MAPPINGS),
    Migration(11, create=FUNCTION_URLS),
    Migration(12, add_column=(FUNCTIONS, "recursive_loop")),
]

# A layer version's resource policy (AddLayerVersionPermission): who may use it.
LAYER_POLICIES = Table(
    "lambda_layer_policies",
    {
        "account": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "version": "INTEGER",
        "statements": "TEXT",  # JSON list, in the order they were added
        "revision_id": "TEXT",
    },
    ("account", "region", "name", "version"),
)

MIGRATIONS.append(Migration(13, create=LAYER_POLICIES))

# Code signing configurations (codesigning.py), and which one each function uses.
CODE_SIGNING_CONFIGS = Table(
    "lambda_code_signing_configs",
    {
        "account": "TEXT",
        "region": "TEXT",
        "csc_id": "TEXT",  # csc-<17 characters>
        "description": "TEXT",
        "publishers": "TEXT",  # JSON list of signing profile version ARNs
        "untrusted": "TEXT",  # UntrustedArtifactOnDeployment: Warn | Enforce
        "last_modified": "TEXT",
        "tags": "TEXT",  # JSON object
    },
    ("account", "region", "csc_id"),
)

FUNCTION_CODE_SIGNING = Table(
    "lambda_function_code_signing",
    {"account": "TEXT", "region": "TEXT", "name": "TEXT", "csc_id": "TEXT"},
    ("account", "region", "name"),
    indexes=(("account", "region", "csc_id"),),
)

MIGRATIONS.append(Migration(14, create=CODE_SIGNING_CONFIGS))
MIGRATIONS.append(Migration(15, create=FUNCTION_CODE_SIGNING))
