"""AWS Key Management Service: keys (symmetric AES-256-GCM, RSA, ECC, HMAC) with real
cryptography, aliases, key policies evaluated as resource policies, grants, rotation and
scheduled deletion — per account and region.

The provider is assembled from one mixin per area over ``KmsBase`` (``base.py``: state,
key lookup, key states, the key's resource policy for the authorizer). Key material is
sealed at rest under the data directory's master key (``material.py``).
"""

from __future__ import annotations

from sandlot.services.kms.aliases import AliasOperations
from sandlot.services.kms.crypto import CryptoOperations
from sandlot.services.kms.grants import GrantOperations
from sandlot.services.kms.imports import ImportOperations
from sandlot.services.kms.keys import KeyOperations
from sandlot.services.kms.policies import PolicyOperations


class KmsProvider(
    KeyOperations,
    AliasOperations,
    CryptoOperations,
    GrantOperations,
    PolicyOperations,
    ImportOperations,
):
    """All KMS operations sandlot serves; see the module docstring."""
