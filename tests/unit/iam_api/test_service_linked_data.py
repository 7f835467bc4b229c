"""Every service-linked role's managed policy is a real AWS managed policy under
/aws-service-role/ (from AWS's published data)."""

from __future__ import annotations

from sandlot.services.iam import managed_policies
from sandlot.services.iam.service_linked import SERVICES


def test_every_service_policy_exists():
    for service, (name, policy, _) in SERVICES.items():
        assert name.startswith("AWSServiceRoleFor"), service
        arn = f"arn:aws:iam::aws:policy/aws-service-role/{policy}"
        assert managed_policies.lookup(arn) is not None, (service, arn)
