"""AWS Identity and Access Management: users, groups, roles, policies, access keys and
policy simulation. IAM is global: every entity belongs to an account, never a region.

One mixin per area over ``IamBase`` (entity rows, paging, errors):
``identities`` (users, groups, roles, tags), ``policies`` (managed policies and
versions, inline policies, attachments), ``access_keys``, ``oidc`` and ``saml``
(identity providers for STS federation), ``service_linked`` (service-linked roles)
and ``simulate``. AWS managed policies are data (``managed_policies``),
present in every account.
"""

from __future__ import annotations

from sandlot.services.iam.access_keys import AccessKeys
from sandlot.services.iam.identities import Identities
from sandlot.services.iam.oidc import OidcProviders
from sandlot.services.iam.policies import Policies
from sandlot.services.iam.saml import SamlProviders
from sandlot.services.iam.service_linked import ServiceLinkedRoles
from sandlot.services.iam.simulate import Simulation


class IamProvider(
    Identities,
    Policies,
    AccessKeys,
    OidcProviders,
    SamlProviders,
    ServiceLinkedRoles,
    Simulation,
):
    service = "iam"
