"""Cognito user pools end to end with boto3, pycognito's SRP client and PyJWT: pools
and clients, admin-created users and NEW_PASSWORD_REQUIRED, sign-up with the code
read from sandlot, password and SRP sign-in, groups in tokens, refresh, GlobalSignOut,
the JWKS sandlot serves, AWS's errors, and the PreSignUp / PostConfirmation /
PreTokenGeneration triggers."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import jwt
import pytest
from pycognito.aws_srp import AWSSRP

from tests.e2e.conftest import aws, make_client, unsigned_client
from tests.e2e.conftest import error_of as _error_of
from tests.e2e.functions import create_function, unique, wait_for_log_events

PASSWORD = "Corr3ct-horse!"


def error_of(call) -> dict:
    """AWS's error code and message."""
    found = _error_of(call)
    return {"Code": found["Code"], "Message": found["Message"]}


@pytest.fixture(scope="module")
def idp(server):
    return make_client(server.endpoint, "cognito-idp")


@pytest.fixture(scope="module")
def anon(server):
    return unsigned_client(server.endpoint, "cognito-idp")


@pytest.fixture(scope="module")
def pool(idp):
    pool = idp.create_user_pool(
        PoolName=unique("pool"),
        AutoVerifiedAttributes=["email"],
        Schema=[{"Name": "team", "AttributeDataType": "String", "Mutable": True}],
    )["UserPool"]
    client = idp.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName="web",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH",
                           "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]  # fmt: skip
    return pool["Id"], client["ClientId"]


def _user(idp, pool_id: str, name: str | None = None, groups=()) -> str:
    name = name or unique("user")
    idp.admin_create_user(
        UserPoolId=pool_id,
        Username=name,
        TemporaryPassword="Temp0rary!pass",
        MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"},
                        {"Name": "email_verified", "Value": "true"}],
    )  # fmt: skip
    idp.admin_set_user_password(UserPoolId=pool_id, Username=name, Password=PASSWORD,
                                Permanent=True)  # fmt: skip
    for group in groups:
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=name, GroupName=group)
    return name


def _keys(endpoint: str, pool_id: str) -> jwt.PyJWKSet:
    with urllib.request.urlopen(f"{endpoint}/{pool_id}/.well-known/jwks.json") as answer:
        return jwt.PyJWKSet.from_dict(json.load(answer))


def _verify(endpoint: str, pool_id: str, token: str, **kw) -> dict:
    kid = jwt.get_unverified_header(token)["kid"]
    key = _keys(endpoint, pool_id)[kid]
    return jwt.decode(token, key.key, algorithms=["RS256"],
                      issuer=f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}", **kw)  # fmt: skip


def test_pool_and_client_control_plane(idp):
    pool = idp.create_user_pool(
        PoolName="described",
        Policies={"PasswordPolicy": {"MinimumLength": 12, "RequireSymbols": False}},
        UsernameAttributes=["email"],
    )["UserPool"]
    assert pool["Id"].startswith("us-east-1_")
    assert pool["Arn"] == f"arn:aws:cognito-idp:us-east-1:000000000000:userpool/{pool['Id']}"
    described = idp.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]
    policy = described["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] == 12 and policy["RequireSymbols"] is False
    assert policy["RequireUppercase"] is True
    assert described["UsernameAttributes"] == ["email"]
    assert pool["Id"] in [p["Id"] for p in idp.list_user_pools(MaxResults=60)["UserPools"]]
    # An update resets what it does not give to AWS's defaults; the name stays.
    idp.update_user_pool(UserPoolId=pool["Id"], AutoVerifiedAttributes=["email"])
    updated = idp.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]
    assert updated["Policies"]["PasswordPolicy"]["MinimumLength"] == 8
    assert updated["AutoVerifiedAttributes"] == ["email"] and updated["Name"] == "described"
    assert updated["UsernameAttributes"] == ["email"]

    secret = idp.create_user_pool_client(UserPoolId=pool["Id"], ClientName="s",
                                         GenerateSecret=True)["UserPoolClient"]  # fmt: skip
    assert secret["ClientSecret"] and secret["ExplicitAuthFlows"] == [
        "ALLOW_USER_SRP_AUTH", "ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]  # fmt: skip
    listed = idp.list_user_pool_clients(UserPoolId=pool["Id"])["UserPoolClients"]
    assert [c["ClientId"] for c in listed] == [secret["ClientId"]]
    idp.update_user_pool_client(UserPoolId=pool["Id"], ClientId=secret["ClientId"],
                                ClientName="renamed", AccessTokenValidity=5,
                                TokenValidityUnits={"AccessToken": "minutes"})  # fmt: skip
    got = idp.describe_user_pool_client(UserPoolId=pool["Id"], ClientId=secret["ClientId"])
    assert got["UserPoolClient"]["ClientName"] == "renamed"
    assert got["UserPoolClient"]["ClientSecret"] == secret["ClientSecret"]

    idp.delete_user_pool(UserPoolId=pool["Id"])
    err = error_of(lambda: idp.describe_user_pool(UserPoolId=pool["Id"]))
    assert err["Code"] == "ResourceNotFoundException"


def test_password_sign_in_tokens_groups_and_errors(server, idp, anon, pool):
    pool_id, client_id = pool
    idp.create_group(UserPoolId=pool_id, GroupName="admins", Precedence=1)
    idp.create_group(UserPoolId=pool_id, GroupName="staff", Precedence=5)
    name = _user(idp, pool_id, groups=("staff", "admins"))
    groups = idp.admin_list_groups_for_user(UserPoolId=pool_id, Username=name)["Groups"]
    assert [g["GroupName"] for g in groups] == ["admins", "staff"]

    result = anon.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})  # fmt: skip
    tokens = result["AuthenticationResult"]
    assert tokens["TokenType"] == "Bearer" and tokens["ExpiresIn"] == 3600
    id_claims = _verify(server.endpoint, pool_id, tokens["IdToken"], audience=client_id)
    assert id_claims["token_use"] == "id" and id_claims["cognito:username"] == name
    assert id_claims["cognito:groups"] == ["admins", "staff"]
    assert id_claims["email"] == f"{name}@example.com" and id_claims["email_verified"] is True
    access = _verify(server.endpoint, pool_id, tokens["AccessToken"])
    assert access["token_use"] == "access" and access["client_id"] == client_id
    assert access["scope"] == "aws.cognito.signin.user.admin" and access["sub"] == id_claims["sub"]
    assert access["origin_jti"] == id_claims["origin_jti"] and "aud" not in access

    discovery_url = f"{server.endpoint}/{pool_id}/.well-known/openid-configuration"
    with urllib.request.urlopen(discovery_url) as answer:
        discovery = json.load(answer)
    assert discovery["issuer"] == access["iss"]
    assert discovery["jwks_uri"] == f"{server.endpoint}/{pool_id}/.well-known/jwks.json"

    me = anon.get_user(AccessToken=tokens["AccessToken"])
    assert me["Username"] == name
    assert {"Name": "sub", "Value": id_claims["sub"]} in me["UserAttributes"]

    wrong = error_of(lambda: anon.initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": name, "PASSWORD": "Wrong-passw0rd"}))  # fmt: skip
    assert wrong == {"Code": "NotAuthorizedException", "Message": "Incorrect username or password."}
    missing = error_of(lambda: anon.initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "nobody", "PASSWORD": PASSWORD}))  # fmt: skip
    assert missing["Code"] == "UserNotFoundException"

    # Admin sign-in; then refresh; GlobalSignOut revokes the refresh token and the access token.
    admin = idp.admin_initiate_auth(UserPoolId=pool_id, ClientId=client_id,
                                    AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                    AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})  # fmt: skip
    refresh = admin["AuthenticationResult"]["RefreshToken"]
    again = anon.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                               AuthParameters={"REFRESH_TOKEN": refresh})["AuthenticationResult"]  # fmt: skip
    assert "RefreshToken" not in again
    renewed = _verify(server.endpoint, pool_id, again["IdToken"], audience=client_id)
    assert renewed["auth_time"] == _verify(server.endpoint, pool_id,
                                           admin["AuthenticationResult"]["IdToken"],
                                           audience=client_id)["auth_time"]  # fmt: skip
    anon.global_sign_out(AccessToken=again["AccessToken"])
    revoked = error_of(lambda: anon.initiate_auth(
        ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": refresh}))  # fmt: skip
    assert revoked == {
        "Code": "NotAuthorizedException",
        "Message": "Refresh Token has been revoked",
    }
    gone = error_of(lambda: anon.get_user(AccessToken=again["AccessToken"]))
    assert gone == {"Code": "NotAuthorizedException", "Message": "Access Token has been revoked"}
    # Global: every session of the user ends, the first sign-in's too.
    assert error_of(lambda: anon.get_user(AccessToken=tokens["AccessToken"])) == gone


def test_new_password_required_and_policy(idp, anon, pool):
    pool_id, client_id = pool
    name = unique("new")
    idp.admin_create_user(UserPoolId=pool_id, Username=name, TemporaryPassword="Temp0rary!pass",
                          MessageAction="SUPPRESS")  # fmt: skip
    user = idp.admin_get_user(UserPoolId=pool_id, Username=name)
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    first = anon.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": name, "PASSWORD": "Temp0rary!pass"})  # fmt: skip
    assert first["ChallengeName"] == "NEW_PASSWORD_REQUIRED" and "AuthenticationResult" not in first
    weak = error_of(lambda: anon.respond_to_auth_challenge(
        ClientId=client_id, ChallengeName="NEW_PASSWORD_REQUIRED", Session=first["Session"],
        ChallengeResponses={"USERNAME": name, "NEW_PASSWORD": "short"}))  # fmt: skip
    assert weak == {
        "Code": "InvalidPasswordException",
        "Message": "Password did not conform with policy: Password not long enough",
    }
    # A refused answer used the session up, as AWS's one-time sessions are.
    first = anon.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": name, "PASSWORD": "Temp0rary!pass"})  # fmt: skip
    done = anon.respond_to_auth_challenge(
        ClientId=client_id, ChallengeName="NEW_PASSWORD_REQUIRED", Session=first["Session"],
        ChallengeResponses={"USERNAME": name, "NEW_PASSWORD": PASSWORD})  # fmt: skip
    assert done["AuthenticationResult"]["IdToken"]
    assert idp.admin_get_user(UserPoolId=pool_id, Username=name)["UserStatus"] == "CONFIRMED"
    nodigit = error_of(lambda: idp.admin_set_user_password(
        UserPoolId=pool_id, Username=name, Password="NoDigits-here!", Permanent=True))  # fmt: skip
    assert (
        nodigit["Message"]
        == "Password did not conform with policy: Password must have numeric characters"
    )


def test_srp_sign_in_with_pycognito(server, idp, anon, pool):
    pool_id, client_id = pool
    name = _user(idp, pool_id)
    tokens = AWSSRP(username=name, password=PASSWORD, pool_id=pool_id, client_id=client_id,
                    client=anon).authenticate_user()["AuthenticationResult"]  # fmt: skip
    assert _verify(server.endpoint, pool_id, tokens["IdToken"],
                   audience=client_id)["cognito:username"] == name  # fmt: skip
    with pytest.raises(anon.exceptions.NotAuthorizedException):
        AWSSRP(username=name, password="Wrong-passw0rd", pool_id=pool_id, client_id=client_id,
               client=anon).authenticate_user()  # fmt: skip


def test_client_secret_requires_secret_hash(idp, anon, pool):
    pool_id, _ = pool
    client = idp.create_user_pool_client(UserPoolId=pool_id, ClientName="server",
                                         GenerateSecret=True,
                                         ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH",
                                                            "ALLOW_USER_SRP_AUTH",
                                                            "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]  # fmt: skip
    name = _user(idp, pool_id)
    params = {"USERNAME": name, "PASSWORD": PASSWORD}
    err = error_of(lambda: anon.initiate_auth(ClientId=client["ClientId"],
                                              AuthFlow="USER_PASSWORD_AUTH", AuthParameters=params))  # fmt: skip
    assert err["Code"] == "NotAuthorizedException" and "SECRET_HASH" in err["Message"]
    srp = AWSSRP(username=name, password=PASSWORD, pool_id=pool_id, client_id=client["ClientId"],
                 client_secret=client["ClientSecret"], client=anon)  # fmt: skip
    hashed = srp.get_secret_hash(name, client["ClientId"], client["ClientSecret"])
    ok = anon.initiate_auth(ClientId=client["ClientId"], AuthFlow="USER_PASSWORD_AUTH",
                            AuthParameters={**params, "SECRET_HASH": hashed})  # fmt: skip
    assert ok["AuthenticationResult"]["AccessToken"]
    signed_in = srp.authenticate_user()["AuthenticationResult"]
    # Refresh with a secret needs SECRET_HASH too; RevokeToken takes the secret itself.
    refresh = {"REFRESH_TOKEN": signed_in["RefreshToken"], "SECRET_HASH": hashed}
    assert anon.initiate_auth(ClientId=client["ClientId"], AuthFlow="REFRESH_TOKEN_AUTH",
                              AuthParameters=refresh)["AuthenticationResult"]["IdToken"]  # fmt: skip
    anon.revoke_token(Token=signed_in["RefreshToken"], ClientId=client["ClientId"],
                      ClientSecret=client["ClientSecret"])  # fmt: skip
    revoked = error_of(lambda: anon.initiate_auth(ClientId=client["ClientId"],
                                                  AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters=refresh))  # fmt: skip
    assert revoked == {
        "Code": "NotAuthorizedException",
        "Message": "Refresh Token has been revoked",
    }
    flows = error_of(lambda: anon.initiate_auth(
        ClientId=client["ClientId"], AuthFlow="ADMIN_USER_PASSWORD_AUTH", AuthParameters=params))  # fmt: skip
    assert flows["Code"] == "InvalidParameterException"


def test_sign_up_with_code_from_sandlot(server, idp, anon, pool):
    pool_id, client_id = pool
    name = unique("signup")
    weak = error_of(lambda: anon.sign_up(ClientId=client_id, Username=name, Password="alllower1!"))
    assert (
        weak["Message"]
        == "Password did not conform with policy: Password must have uppercase characters"
    )
    answer = anon.sign_up(ClientId=client_id, Username=name, Password=PASSWORD,
                          UserAttributes=[{"Name": "email", "Value": "me@example.com"}])  # fmt: skip
    assert answer["UserConfirmed"] is False
    assert answer["CodeDeliveryDetails"] == {
        "Destination": "m***@example.com",
        "DeliveryMedium": "EMAIL",
        "AttributeName": "email",
    }
    dup = error_of(lambda: anon.sign_up(ClientId=client_id, Username=name, Password=PASSWORD))
    assert dup == {"Code": "UsernameExistsException", "Message": "User account already exists"}
    unconfirmed = error_of(lambda: anon.initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD}))  # fmt: skip
    assert unconfirmed == {"Code": "UserNotConfirmedException", "Message": "User is not confirmed."}

    code = _code(server.endpoint, pool_id, name, "SIGN_UP")
    bad = error_of(lambda: anon.confirm_sign_up(ClientId=client_id, Username=name,
                                                ConfirmationCode="000000" if code != "000000" else "111111"))  # fmt: skip
    assert bad["Code"] == "CodeMismatchException"
    anon.confirm_sign_up(ClientId=client_id, Username=name, ConfirmationCode=code)
    user = idp.admin_get_user(UserPoolId=pool_id, Username=name)
    assert user["UserStatus"] == "CONFIRMED"
    assert {"Name": "email_verified", "Value": "true"} in user["UserAttributes"]
    listed = idp.list_users(UserPoolId=pool_id, Filter='email = "me@example.com"')["Users"]
    assert [u["Username"] for u in listed] == [name]

    anon.forgot_password(ClientId=client_id, Username=name)
    reset = _code(server.endpoint, pool_id, name, "FORGOT_PASSWORD")
    anon.confirm_forgot_password(ClientId=client_id, Username=name, ConfirmationCode=reset,
                                 Password="An0ther-secret!")  # fmt: skip
    assert anon.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                              AuthParameters={"USERNAME": name, "PASSWORD": "An0ther-secret!"})[
        "AuthenticationResult"]  # fmt: skip


def _code(endpoint: str, pool_id: str, username: str, purpose: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "sandlot.cli.main", "cognito", "codes", pool_id, "--json",
         "--endpoint", endpoint],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    codes = [c for c in json.loads(out) if c["username"] == username and c["purpose"] == purpose]
    return codes[-1]["code"]


TRIGGER = """
import json

def handler(event, context):
    source = event["triggerSource"]
    print(json.dumps(event))
    if source == "PreSignUp_SignUp":
        if event["request"]["userAttributes"].get("email", "").endswith("@blocked.example"):
            raise Exception("blocked domain")
        event["response"]["autoConfirmUser"] = True
        event["response"]["autoVerifyEmail"] = True
    elif source.startswith("TokenGeneration_"):
        event["response"]["claimsOverrideDetails"] = {
            "claimsToAddOrOverride": {"tenant": "acme", "seen_source": source},
            "claimsToSuppress": ["email"],
        }
    return event
"""


def test_triggers(server, idp, anon):
    lam = make_client(server.endpoint, "lambda")
    function = unique("cognito-trigger")
    create_function(lam, function, {"app.py": TRIGGER})
    arn = lam.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    pool = idp.create_user_pool(PoolName=unique("triggered"), LambdaConfig={
        "PreSignUp": arn, "PostConfirmation": arn, "PreTokenGeneration": arn})["UserPool"]  # fmt: skip
    lam.add_permission(FunctionName=function, StatementId="cognito", Action="lambda:InvokeFunction",
                       Principal="cognito-idp.amazonaws.com", SourceArn=pool["Arn"])  # fmt: skip
    client = idp.create_user_pool_client(UserPoolId=pool["Id"], ClientName="c",
                                         ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH",
                                                            "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]  # fmt: skip
    blocked = error_of(lambda: anon.sign_up(
        ClientId=client["ClientId"], Username="bob", Password=PASSWORD,
        UserAttributes=[{"Name": "email", "Value": "bob@blocked.example"}]))  # fmt: skip
    assert blocked == {
        "Code": "UserLambdaValidationException",
        "Message": "PreSignUp failed with error blocked domain.",
    }
    answer = anon.sign_up(ClientId=client["ClientId"], Username="ann", Password=PASSWORD,
                          UserAttributes=[{"Name": "email", "Value": "ann@example.com"}])  # fmt: skip
    assert answer["UserConfirmed"] is True
    logs = make_client(server.endpoint, "logs")
    confirmed = wait_for_log_events(logs, function, "PostConfirmation_ConfirmSignUp")
    event = json.loads(next(e["message"] for e in confirmed if e["message"].startswith("{")))
    assert event["userName"] == "ann" and event["userPoolId"] == pool["Id"]
    assert event["request"]["userAttributes"]["cognito:user_status"] == "CONFIRMED"
    assert event["callerContext"]["clientId"] == client["ClientId"]
    user = idp.admin_get_user(UserPoolId=pool["Id"], Username="ann")
    assert user["UserStatus"] == "CONFIRMED"
    assert {"Name": "email_verified", "Value": "true"} in user["UserAttributes"]
    tokens = anon.initiate_auth(ClientId=client["ClientId"], AuthFlow="USER_PASSWORD_AUTH",
                                AuthParameters={"USERNAME": "ann", "PASSWORD": PASSWORD})[
        "AuthenticationResult"]  # fmt: skip
    claims = _verify(server.endpoint, pool["Id"], tokens["IdToken"], audience=client["ClientId"])
    assert claims["tenant"] == "acme" and claims["seen_source"] == "TokenGeneration_Authentication"
    assert "email" not in claims


def test_aws_cli_sign_in_and_unserved_flows(server, anon):
    pool_id = aws(server.endpoint, "cognito-idp", "create-user-pool", "--pool-name", "cli",
                  "--policies", "PasswordPolicy={MinimumLength=6,RequireSymbols=false,"
                  "RequireUppercase=false,RequireNumbers=false}")["UserPool"]["Id"]  # fmt: skip
    client_id = aws(server.endpoint, "cognito-idp", "create-user-pool-client", "--user-pool-id",
                    pool_id, "--client-name", "cli", "--explicit-auth-flows",
                    "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH")[
        "UserPoolClient"]["ClientId"]  # fmt: skip
    aws(server.endpoint, "cognito-idp", "admin-create-user", "--user-pool-id", pool_id,
        "--username", "erin", "--message-action", "SUPPRESS")  # fmt: skip
    aws(server.endpoint, "cognito-idp", "admin-set-user-password", "--user-pool-id", pool_id,
        "--username", "erin", "--password", "simple", "--permanent")  # fmt: skip
    result = aws(server.endpoint, "cognito-idp", "admin-initiate-auth", "--user-pool-id", pool_id,
                 "--client-id", client_id, "--auth-flow", "ADMIN_USER_PASSWORD_AUTH",
                 "--auth-parameters", "USERNAME=erin,PASSWORD=simple")["AuthenticationResult"]  # fmt: skip
    claims = jwt.decode(result["AccessToken"], options={"verify_signature": False})
    assert claims["username"] == "erin" and claims["client_id"] == client_id
    # The password flow is not enabled for this client; custom auth is not served.
    err = error_of(lambda: anon.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                              AuthParameters={"USERNAME": "erin", "PASSWORD": "simple"}))  # fmt: skip
    assert err == {
        "Code": "InvalidParameterException",
        "Message": "USER_PASSWORD_AUTH flow not enabled for this client",
    }
    custom = _error_of(lambda: anon.initiate_auth(ClientId=client_id, AuthFlow="CUSTOM_AUTH",
                                                  AuthParameters={"USERNAME": "erin"}))  # fmt: skip
    assert custom["HTTPStatusCode"] == 501


def test_email_as_username_with_srp(server, idp, anon):
    """Amplify's usual pool: the email is the username; the user's name is its sub, and
    SRP proves the password for USER_ID_FOR_SRP (the sub)."""
    pool = idp.create_user_pool(PoolName=unique("emails"), UsernameAttributes=["email"],
                                AutoVerifiedAttributes=["email"])["UserPool"]  # fmt: skip
    client_id = idp.create_user_pool_client(UserPoolId=pool["Id"], ClientName="amplify")[
        "UserPoolClient"]["ClientId"]  # fmt: skip
    answer = anon.sign_up(ClientId=client_id, Username="fay@example.com", Password=PASSWORD)
    code = _code(server.endpoint, pool["Id"], answer["UserSub"], "SIGN_UP")
    anon.confirm_sign_up(ClientId=client_id, Username="fay@example.com", ConfirmationCode=code)
    user = idp.admin_get_user(UserPoolId=pool["Id"], Username="fay@example.com")
    assert user["Username"] == answer["UserSub"]
    bad = error_of(lambda: anon.sign_up(ClientId=client_id, Username="fay", Password=PASSWORD))
    assert bad["Code"] == "InvalidParameterException"
    taken = error_of(lambda: anon.sign_up(ClientId=client_id, Username="fay@example.com",
                                          Password=PASSWORD))  # fmt: skip
    assert taken["Code"] == "UsernameExistsException"
    tokens = AWSSRP(username="fay@example.com", password=PASSWORD, pool_id=pool["Id"],
                    client_id=client_id, client=anon).authenticate_user()["AuthenticationResult"]  # fmt: skip
    claims = _verify(server.endpoint, pool["Id"], tokens["IdToken"], audience=client_id)
    assert claims["cognito:username"] == answer["UserSub"] and claims["email"] == "fay@example.com"
    assert claims["email_verified"] is True


def test_generated_temporary_password_is_shown_by_sandlot(server, idp, anon, pool):
    pool_id, client_id = pool
    name = unique("invited")
    idp.admin_create_user(UserPoolId=pool_id, Username=name,
                          UserAttributes=[{"Name": "email", "Value": "inv@example.com"}])  # fmt: skip
    temporary = _code(server.endpoint, pool_id, name, "TEMPORARY_PASSWORD")
    first = anon.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": name, "PASSWORD": temporary})  # fmt: skip
    assert first["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    assert json.loads(first["ChallengeParameters"]["userAttributes"]) == {
        "email": "inv@example.com"
    }
