#!/usr/bin/env python3
"""Creates a Cognito user pool in a moto server (the local stand-in for Amazon Cognito) and prints what
authgate and the tests need as JSON: pool and client ids and, for a user it creates, real tokens.

    scripts/moto_pool.py --endpoint http://127.0.0.1:5000 [--user alice --password 'Secret-123' --group staff]
                         [--client-secret] [--force-change-user carol]
"""
import argparse
import json

import boto3

parser = argparse.ArgumentParser()
parser.add_argument("--endpoint", required=True)
parser.add_argument("--region", default="us-east-1")
parser.add_argument("--user", default="")
parser.add_argument("--password", default="Correct-Horse-9")
parser.add_argument("--group", action="append", default=[])
parser.add_argument("--client-secret", action="store_true", help="give the app client a secret")
parser.add_argument("--force-change-user", default="", help="also create this user with --password as a temporary password")
arguments = parser.parse_args()

cognito = boto3.client(
    "cognito-idp",
    endpoint_url=arguments.endpoint,
    region_name=arguments.region,
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
)
pool = cognito.create_user_pool(PoolName="authgate", Policies={"PasswordPolicy": {"MinimumLength": 8}})["UserPool"]
client = cognito.create_user_pool_client(
    UserPoolId=pool["Id"],
    ClientName="authgate",
    GenerateSecret=arguments.client_secret,
    ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
)["UserPoolClient"]
result = {
    "region": arguments.region,
    "user_pool_id": pool["Id"],
    "client_id": client["ClientId"],
    "client_secret": client.get("ClientSecret", ""),
}
if arguments.user:
    cognito.admin_create_user(UserPoolId=pool["Id"], Username=arguments.user, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(
        UserPoolId=pool["Id"], Username=arguments.user, Password=arguments.password, Permanent=True
    )
    for group in arguments.group:
        cognito.create_group(UserPoolId=pool["Id"], GroupName=group)
        cognito.admin_add_user_to_group(UserPoolId=pool["Id"], Username=arguments.user, GroupName=group)
    parameters = {"USERNAME": arguments.user, "PASSWORD": arguments.password}
    tokens = cognito.admin_initiate_auth(
        UserPoolId=pool["Id"], ClientId=client["ClientId"], AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters=parameters,
    )["AuthenticationResult"]
    result["id_token"] = tokens["IdToken"]
    result["access_token"] = tokens["AccessToken"]
if arguments.force_change_user:
    cognito.admin_create_user(
        UserPoolId=pool["Id"], Username=arguments.force_change_user, TemporaryPassword=arguments.password,
        MessageAction="SUPPRESS",
    )
print(json.dumps(result))
