"""AWS CloudFormation: stacks from JSON/YAML templates (parameters, mappings,
conditions, outputs and exports, every intrinsic function), change sets, and an engine
that creates, updates (in place or by replacement, as AWS's resource schemas decide),
rolls back and deletes resources through the other services' APIs, durably.

The provider is assembled from one mixin per area over ``CloudFormationBase``
(``base.py``); the engine is ``engine.py``/``operations.py``; templates and intrinsic
functions are pure modules (``template.py``, ``intrinsics.py``, ``graph.py``,
``parameters.py``); resource types live with their services (``handlers.py``).
"""

from __future__ import annotations

from sandlot.services.cloudformation.changesets import ChangeSetOperations


class CloudFormationProvider(ChangeSetOperations):
    """All CloudFormation operations sandlot serves; see the module docstring."""
