"""AWS Security Token Service: who am I, and temporary credentials.

Whether a caller may assume a role (its ``sts:AssumeRole`` permission and the role's
trust policy) is decided before the provider runs (iam/authorizer.py); here the session
gets the role's id, its duration within the role's MaxSessionDuration, and keeps its
session policies, which limit what it may do.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import time

from sandlot.iam.policy import MalformedPolicyError, compile_policy
from sandlot.iam.principal import ROLE_ARN, Principal, assumed_role
from sandlot.iam.saml import AssertionRejected, MetadataError, parse_metadata, verify_assertion
from sandlot.protocol import ServiceError
from sandlot.protocol.constraints import constraint_error, summary
from sandlot.services.provider import Provider, RequestContext
from sandlot.services.sts.sessions import (
    SAML_ATTRIBUTE,
    assertion_session_tags,
    session_context,
    tag_keys,
    token_session_tags,
)
from sandlot.services.sts.web_identity import (
    TokenVerifier,
    audience_of,
    invalid_token,
    unverified_claims,
)

_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")


def validation_error(value: object, member: str, constraint: str) -> ServiceError:
    """AWS's wording for a constraint failure of one member."""
    return ServiceError("ValidationError", summary([constraint_error(value, member, constraint)]))


def _duration(params: dict, default: int, maximum: int) -> int:
    seconds = params.get("DurationSeconds", default)
    if seconds < 900:
        raise validation_error(
            seconds, "durationSeconds", "Member must have value greater than or equal to 900"
        )
    if seconds > maximum:
        raise validation_error(
            seconds, "durationSeconds", f"Member must have value less than or equal to {maximum}"
        )
    return seconds


def _credentials_output(credential) -> dict:
    return {
        "AccessKeyId": credential.access_key_id,
        "SecretAccessKey": credential.secret_access_key,
        "SessionToken": credential.session_token,
        "Expiration": dt.datetime.fromtimestamp(credential.expires_at, dt.UTC),
    }


class StsProvider(Provider):
    service = "sts"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        self._verifier = TokenVerifier()

    def get_caller_identity(self, ctx: RequestContext, params: dict) -> dict:
        p = ctx.principal
        return {"UserId": p.user_id, "Account": p.account_id, "Arn": p.arn}

    def validate(self, ctx: RequestContext, params: dict) -> None:
        if ctx.operation not in ("AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"):
            return
        if ROLE_ARN.match(params["RoleArn"]) is None:
            raise validation_error(params["RoleArn"], "roleArn", "Member must be a valid role ARN")
        session_name = params.get("RoleSessionName")  # SAML's comes in the assertion
        if session_name is not None and not _SESSION_NAME.match(session_name):
            raise validation_error(
                session_name,
                "roleSessionName",
                "Member must satisfy regular expression pattern: [\\w+=,.@-]* "
                "and have length between 2 and 64",
            )
        _duration(params, 3600, 43200)
        if "Policy" in params:
            try:
                compile_policy(params["Policy"], "identity", "session policy")
            except MalformedPolicyError as error:
                raise ServiceError("MalformedPolicyDocument", str(error)) from None

    def assume_role(self, ctx: RequestContext, params: dict) -> dict:
        # Role chaining (a role session assuming a role) is limited to one hour, whatever
        # the role's MaxSessionDuration, as in AWS.
        if ctx.principal.kind == "assumed-role" and _duration(params, 3600, 43200) > 3600:
            raise ServiceError(
                "ValidationError",
                "The requested DurationSeconds exceeds the 1 hour session limit for roles "
                "assumed by role chaining.",
            )
        return self._session(params, ctx.principal, params.get("Tags", []))

    async def assume_role_with_web_identity(self, ctx: RequestContext, params: dict) -> dict:
        """A role session for the user an OpenID Connect token vouches for: the token is
        verified against its issuer's keys (web_identity.py) and the role's trust policy
        must allow its provider, with the token's claims as condition keys."""
        role_arn, token = params["RoleArn"], params["WebIdentityToken"]
        if params.get("ProviderId"):
            raise invalid_token(
                "OAuth 2.0 access tokens (ProviderId) are not supported by sandlot; "
                "use an OpenID Connect ID token"
            )
        account = ROLE_ARN.match(role_arn).group(1)
        claims = unverified_claims(token)
        iam = self.platform.provider("iam")
        provider = iam.oidc_provider(account, claims["iss"])
        if provider is None:
            raise invalid_token(
                f"No OpenIDConnect provider found in your account for {claims['iss']}"
            )
        audience = audience_of(claims, json.loads(provider["client_ids"]))
        claims = await self._verifier.verify(token, claims, json.loads(provider["thumbprints"]))
        name = provider["url"]
        keys: dict[str, object] = {
            f"{name}:aud": audience,
            f"{name}:sub": str(claims.get("sub", "")),
            "aws:FederatedProvider": provider["arn"],
            "sts:RoleSessionName": params["RoleSessionName"],
        }
        if isinstance(claims.get("amr"), list):
            keys[f"{name}:amr"] = [str(v) for v in claims["amr"]]
        tags, transitive = token_session_tags(claims)
        if tags:
            keys.update(tag_keys(tags, transitive))
        decision = self.platform.authorizer.federated_trust(
            ctx, role_arn, provider["arn"], keys, tagging=bool(tags)
        )
        if not decision.allowed:
            raise ServiceError(
                "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403
            )
        result = self._session({**params, "TransitiveTagKeys": transitive}, ctx.principal, tags)
        result["SubjectFromWebIdentityToken"] = str(claims.get("sub", ""))
        result["Audience"] = audience
        result["Provider"] = provider["arn"]
        return result

    async def assume_role_with_saml(self, ctx: RequestContext, params: dict) -> dict:
        """A role session for the user a SAML IdP's signed assertion names: verified
        against the provider's metadata (iam/saml.py); the assertion must list the role
        and provider, and the role's trust policy must allow the provider."""
        role_arn, provider_arn = params["RoleArn"], params["PrincipalArn"]
        account = ROLE_ARN.match(role_arn).group(1)
        provider = self.platform.provider("iam").saml_provider(account, provider_arn)
        if provider is None:
            raise invalid_token(f"Specified provider doesn't exist: {provider_arn}")
        try:
            assertion = verify_assertion(
                params["SAMLAssertion"], parse_metadata(provider["metadata"]), time.time()
            )
        except (AssertionRejected, MetadataError) as error:
            code = getattr(error, "code", "InvalidIdentityToken")
            raise ServiceError(code, getattr(error, "message", str(error))) from None
        attributes = assertion.attributes
        pairs = [
            {part.strip() for part in value.split(",")}
            for value in attributes.get(SAML_ATTRIBUTE + "Role", [])
        ]
        if {role_arn, provider_arn} not in pairs:
            raise ServiceError(
                "AccessDenied", "Not authorized to perform sts:AssumeRoleWithSAML", 403
            )
        names = attributes.get(SAML_ATTRIBUTE + "RoleSessionName") or [""]
        if not names[0]:
            raise invalid_token("Error: RoleSessionName is required in AuthnResponse")
        tags, transitive = assertion_session_tags(attributes)
        qualifier = base64.b64encode(
            hashlib.sha1(f"{assertion.issuer}{account}/{provider['name']}".encode()).digest()
        ).decode()
        keys: dict[str, object] = {
            "saml:aud": assertion.audience,
            "saml:iss": assertion.issuer,
            "saml:sub": assertion.subject,
            "saml:sub_type": assertion.subject_type,
            "saml:namequalifier": qualifier,
            "aws:FederatedProvider": provider_arn,
            "sts:RoleSessionName": names[0],
        }
        if tags:
            keys.update(tag_keys(tags, transitive))
        decision = self.platform.authorizer.federated_trust(
            ctx, role_arn, provider_arn, keys, tagging=bool(tags), caller_type="saml"
        )
        if not decision.allowed:
            raise ServiceError(
                "AccessDenied", "Not authorized to perform sts:AssumeRoleWithSAML", 403
            )
        session = {**params, "RoleSessionName": names[0], "TransitiveTagKeys": transitive}
        durations = attributes.get(SAML_ATTRIBUTE + "SessionDuration")
        if "DurationSeconds" not in params and durations and durations[0].isdigit():
            session["DurationSeconds"] = int(durations[0])
        if sources := attributes.get(SAML_ATTRIBUTE + "SourceIdentity"):
            session["SourceIdentity"] = sources[0]
        result = self._session(session, ctx.principal, tags)
        result.update(
            Subject=assertion.subject,
            SubjectType=assertion.subject_type,
            Issuer=assertion.issuer,
            Audience=assertion.audience,
            NameQualifier=qualifier,
        )
        return result

    def _session(self, params: dict, caller: Principal, tags: list[dict]) -> dict:
        """The role session an allowed AssumeRole… makes: credentials for the role, its
        duration within the role's MaxSessionDuration, the session policies, session
        ``tags`` and source identity kept (with what ``caller``'s session passes on)."""
        role_arn = params["RoleArn"]
        session_name = params["RoleSessionName"]
        # None when IAM has no such role: only --iam off lets that through.
        role = self.platform.provider("iam").role(role_arn)
        seconds = _duration(params, 3600, 43200)
        if role is not None and seconds > (role.max_session_duration or 3600):
            raise ServiceError(
                "ValidationError",
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            )
        session_policy = None
        if "Policy" in params or "PolicyArns" in params:
            session_policy = json.dumps(
                {
                    "Policy": params.get("Policy"),
                    "PolicyArns": [p["arn"] for p in params.get("PolicyArns", []) if "arn" in p],
                }
            )
        context, packed = session_context(caller, tags, params)
        principal = assumed_role(
            role_arn, session_name, role.entity_id if role else None, session_policy, context
        )
        credential = self.platform.credentials.issue_session(principal, time.time() + seconds)
        result = {
            "Credentials": _credentials_output(credential),
            "AssumedRoleUser": {"AssumedRoleId": principal.user_id, "Arn": principal.arn},
        }
        if "Policy" in params or tags:
            result["PackedPolicySize"] = packed
        if context and (source := json.loads(context).get("source_identity")):
            result["SourceIdentity"] = source
        return result

    def get_session_token(self, ctx: RequestContext, params: dict) -> dict:
        caller = ctx.principal
        if caller.is_session:
            raise ServiceError(
                "AccessDenied", "Cannot call GetSessionToken with session credentials", 403
            )
        # An account root's session lasts at most one hour, as in AWS.
        seconds = _duration(
            params, 3600 if caller.is_root else 43200, 3600 if caller.is_root else 129600
        )
        session = Principal(
            caller.account_id, caller.arn, caller.user_id, caller.kind, source_arn=caller.arn
        )
        credential = self.platform.credentials.issue_session(session, time.time() + seconds)
        return {"Credentials": _credentials_output(credential)}

    def get_access_key_info(self, ctx: RequestContext, params: dict) -> dict:
        key_id = params["AccessKeyId"]
        credential = self.platform.credentials.lookup(key_id)
        if credential is not None:
            return {"Account": credential.principal.account_id}
        # Keys sandlot never issued belong to the dev-mode account they would act as.
        account = key_id if key_id.isdigit() and len(key_id) == 12 else None
        return {"Account": account or self.platform.settings.default_account}
