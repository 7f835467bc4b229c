"""Service-linked roles: ``CreateServiceLinkedRole``, ``DeleteServiceLinkedRole`` and
``GetServiceLinkedRoleDeletionStatus``.

A service-linked role is a role at ``/aws-service-role/<service principal>/`` named by
the service (``AWSServiceRoleFor…``), trusted by that principal and carrying the
service's AWS managed policy (under ``/aws-service-role/``). Only the service changes
it: ``DeleteRole``, the trust policy and its policies are refused with
``UnmodifiableEntity`` (``check_modifiable`` in ``base.py``); its description may
change. ``SERVICES`` is the table of services sandlot knows the role of (from IAM's
documentation of each service's role); another principal is ``InvalidInput``.

Deletion is a task in AWS, because the service first checks that no resource still
uses the role. Nothing in sandlot uses these roles, so the role is deleted at once
and the task is recorded as ``SUCCEEDED`` (durable, for the status call).
"""

from __future__ import annotations

import json
import re
import uuid

from sandlot.services.iam.base import (
    SERVICE_ROLE_PATH,
    IamBase,
    checked,
    invalid_input,
    no_such_entity,
)
from sandlot.services.iam.identities import role_output
from sandlot.services.iam.schema import ATTACHMENTS, ENTITIES, INLINE, SLR_DELETIONS
from sandlot.services.provider import RequestContext

PATH_ROOT = SERVICE_ROLE_PATH
_POLICY_PREFIX = "arn:aws:iam::aws:policy/aws-service-role/"
_TASK_ID = re.compile(r"task/aws-service-role/([\w+=,.@-]+)/([\w+=,.@-]+)/([0-9a-f-]{36})")

# Service principal -> (role name, AWS managed policy under /aws-service-role/,
# whether the service accepts a CustomSuffix).
SERVICES: dict[str, tuple[str, str, bool]] = {
    "autoscaling.amazonaws.com": ("AWSServiceRoleForAutoScaling", "AutoScalingServiceRolePolicy", True),
    "elasticloadbalancing.amazonaws.com": ("AWSServiceRoleForElasticLoadBalancing", "AWSElasticLoadBalancingServiceRolePolicy", False),
    "ecs.amazonaws.com": ("AWSServiceRoleForECS", "AmazonECSServiceRolePolicy", False),
    "spot.amazonaws.com": ("AWSServiceRoleForEC2Spot", "AWSEC2SpotServiceRolePolicy", False),
    "spotfleet.amazonaws.com": ("AWSServiceRoleForEC2SpotFleet", "AWSEC2SpotFleetServiceRolePolicy", False),
    "ec2fleet.amazonaws.com": ("AWSServiceRoleForEC2Fleet", "AWSEC2FleetServiceRolePolicy", False),
    "es.amazonaws.com": ("AWSServiceRoleForAmazonElasticsearchService", "AmazonElasticsearchServiceRolePolicy", False),
    "opensearchservice.amazonaws.com": ("AWSServiceRoleForAmazonOpenSearchService", "AmazonOpenSearchServiceRolePolicy", False),
    "ops.apigateway.amazonaws.com": ("AWSServiceRoleForAPIGateway", "APIGatewayServiceRolePolicy", False),
    "rds.amazonaws.com": ("AWSServiceRoleForRDS", "AmazonRDSServiceRolePolicy", False),
    "eks.amazonaws.com": ("AWSServiceRoleForAmazonEKS", "AmazonEKSServiceRolePolicy", False),
    "eks-nodegroup.amazonaws.com": ("AWSServiceRoleForAmazonEKSNodegroup", "AWSServiceRoleForAmazonEKSNodegroup", False),
    "eks-fargate.amazonaws.com": ("AWSServiceRoleForAmazonEKSForFargate", "AmazonEKSForFargateServiceRolePolicy", False),
    "elasticache.amazonaws.com": ("AWSServiceRoleForElastiCache", "ElastiCacheServiceRolePolicy", False),
    "dynamodb.application-autoscaling.amazonaws.com": ("AWSServiceRoleForApplicationAutoScaling_DynamoDBTable", "AWSApplicationAutoscalingDynamoDBTablePolicy", False),
    "ecs.application-autoscaling.amazonaws.com": ("AWSServiceRoleForApplicationAutoScaling_ECSService", "AWSApplicationAutoscalingECSServicePolicy", False),
    "lambda.application-autoscaling.amazonaws.com": ("AWSServiceRoleForApplicationAutoScaling_LambdaConcurrency", "AWSApplicationAutoscalingLambdaConcurrencyPolicy", False),
    "rds.application-autoscaling.amazonaws.com": ("AWSServiceRoleForApplicationAutoScaling_RDSCluster", "AWSApplicationAutoscalingRDSClusterPolicy", False),
    "custom-resource.application-autoscaling.amazonaws.com": ("AWSServiceRoleForApplicationAutoScaling_CustomResource", "AWSApplicationAutoScalingCustomResourcePolicy", False),
    "replication.dynamodb.amazonaws.com": ("AWSServiceRoleForDynamoDBReplication", "DynamoDBReplicationServiceRolePolicy", False),
    "replicator.lambda.amazonaws.com": ("AWSServiceRoleForLambdaReplicator", "AWSLambdaReplicator", False),
    "mrk.kms.amazonaws.com": ("AWSServiceRoleForKeyManagementServiceMultiRegionKeys", "AWSKeyManagementServiceMultiRegionKeysServiceRolePolicy", False),
    "events.amazonaws.com": ("AWSServiceRoleForCloudWatchEvents", "CloudWatchEventsServiceRolePolicy", False),
    "delivery.logs.amazonaws.com": ("AWSServiceRoleForLogDelivery", "AWSServiceRoleForLogDeliveryPolicy", False),
    "cloudtrail.amazonaws.com": ("AWSServiceRoleForCloudTrail", "CloudTrailServiceRolePolicy", False),
    "config.amazonaws.com": ("AWSServiceRoleForConfig", "AWSConfigServiceRolePolicy", False),
    "guardduty.amazonaws.com": ("AWSServiceRoleForAmazonGuardDuty", "AmazonGuardDutyServiceRolePolicy", False),
    "securityhub.amazonaws.com": ("AWSServiceRoleForSecurityHub", "AWSSecurityHubServiceRolePolicy", False),
    "organizations.amazonaws.com": ("AWSServiceRoleForOrganizations", "AWSOrganizationsServiceTrustPolicy", False),
    "support.amazonaws.com": ("AWSServiceRoleForSupport", "AWSSupportServiceRolePolicy", False),
    "trustedadvisor.amazonaws.com": ("AWSServiceRoleForTrustedAdvisor", "AWSTrustedAdvisorServiceRolePolicy", False),
    "backup.amazonaws.com": ("AWSServiceRoleForBackup", "AWSBackupServiceLinkedRolePolicyForBackup", False),
    "ssm.amazonaws.com": ("AWSServiceRoleForAmazonSSM", "AmazonSSMServiceRolePolicy", False),
    "mq.amazonaws.com": ("AWSServiceRoleForAmazonMQ", "AmazonMQServiceRolePolicy", False),
    "redshift.amazonaws.com": ("AWSServiceRoleForRedshift", "AmazonRedshiftServiceLinkedRolePolicy", False),
    "elasticbeanstalk.amazonaws.com": ("AWSServiceRoleForElasticBeanstalk", "AWSElasticBeanstalkServiceRolePolicy", False),
    "elasticmapreduce.amazonaws.com": ("AWSServiceRoleForEMRCleanup", "AmazonEMRCleanupPolicy", False),
    "cognito-idp.amazonaws.com": ("AWSServiceRoleForAmazonCognitoIdp", "AmazonCognitoIdpServiceRolePolicy", False),
    "email.cognito-idp.amazonaws.com": ("AWSServiceRoleForAmazonCognitoIdpEmailService", "AmazonCognitoIdpEmailServiceRolePolicy", False),
    "globalaccelerator.amazonaws.com": ("AWSServiceRoleForGlobalAccelerator", "AWSGlobalAcceleratorSLRPolicy", False),
    "transitgateway.amazonaws.com": ("AWSServiceRoleForVPCTransitGateway", "AWSVPCTransitGatewayServiceRolePolicy", False),
    "lex.amazonaws.com": ("AWSServiceRoleForLexBots", "LexBotPolicy", False),
}  # fmt: skip


def trust_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


class ServiceLinkedRoles(IamBase):
    @checked
    def create_service_linked_role(self, ctx: RequestContext, params: dict) -> dict:
        service = params["AWSServiceName"]
        known = SERVICES.get(service)
        if known is None:
            raise invalid_input(f"Invalid service name: {service}")
        name, policy, suffix_allowed = known
        suffix = params.get("CustomSuffix")
        if suffix is not None:
            if not suffix_allowed:
                raise invalid_input(f"Custom suffix is not allowed for {service}")
            name = f"{name}_{suffix}"
        taken = invalid_input(
            f"Service role name {name} has been taken in this account, "
            "please try a different suffix."
        )
        if self.store.get(ENTITIES, ctx.account_id, "role", name.lower()) is not None:
            raise taken
        with self.store.transaction():
            row = self.create_entity(
                ctx.account_id,
                "role",
                {"RoleName": name, "Path": f"{PATH_ROOT}{service}/"},
                trust_policy=trust_policy(service),
                description=params.get("Description"),
                max_session_duration=3600,
                permissions_boundary=None,
            )
            self.store.put(
                ATTACHMENTS,
                {
                    "account_id": ctx.account_id,
                    "kind": "role",
                    "name_key": row["name_key"],
                    "policy_arn": _POLICY_PREFIX + policy,
                    "attached_at": self.clock(),
                },
            )
        out = role_output(row)
        del out["MaxSessionDuration"]  # as CreateRole's answer
        return {"Role": out}

    @checked
    def delete_service_linked_role(self, ctx: RequestContext, params: dict) -> dict:
        row = self.entity(ctx.account_id, "role", params["RoleName"])
        if not row["path"].startswith(PATH_ROOT):
            raise invalid_input(f"Role {row['name']} is not a service-linked role.")
        service = row["path"][len(PATH_ROOT) :].strip("/")
        task = f"task{PATH_ROOT}{service}/{row['name']}/{uuid.uuid4()}"
        account, key = ctx.account_id, row["name_key"]
        with self.store.transaction():
            for table in (ATTACHMENTS, INLINE):
                for link in self.store.select(
                    table, {"account_id": account, "kind": "role", "name_key": key}
                ):
                    self.store.delete(table, *(link[c] for c in table.key))
            self.store.delete(ENTITIES, account, "role", key)
            self.store.put(
                SLR_DELETIONS,
                {
                    "account_id": account,
                    "task_id": task,
                    "status": "SUCCEEDED",
                    "created_at": self.clock(),
                },
            )
        return {"DeletionTaskId": task}

    @checked
    def get_service_linked_role_deletion_status(self, ctx: RequestContext, params: dict) -> dict:
        task = params["DeletionTaskId"]
        if _TASK_ID.fullmatch(task) is None:
            raise invalid_input(f"Invalid deletion task id: {task}")
        row = self.store.get(SLR_DELETIONS, ctx.account_id, task)
        if row is None:
            raise no_such_entity(f"Deletion task {task} cannot be found.")
        return {"Status": row["status"]}
