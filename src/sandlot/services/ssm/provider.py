"""AWS Systems Manager Parameter Store: String, StringList and SecureString (encrypted
through KMS) parameters in hierarchies, with versions, labels and tags, per account
and region. Other Systems Manager operations answer 501 (not served).

The provider is assembled from one mixin per area over ``SsmBase`` (``base.py``:
state, name/label rules, version selection, KMS calls).
"""

from __future__ import annotations

from sandlot.services.ssm.labels import LabelOperations
from sandlot.services.ssm.parameters import ParameterOperations


class SsmProvider(ParameterOperations, LabelOperations):
    """All Parameter Store operations sandlot serves; see the module docstring."""
