"""Seeding the emulated account (directly on moto, not through the proxy: seeding is not measured)."""

from __future__ import annotations

import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

ACCOUNT = "111122223333"
BUCKET = "tourniquet-bench-evidence"
DENY_POLICY_NAME = "BenchCustodianDenyAll"  # the managed deny Cloud Custodian's set-policy attaches
DENY_POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{DENY_POLICY_NAME}"
ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
DENY_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})
EC2_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def _in_account(account: str):
    def add(request, **_):
        request.headers["x-moto-account-id"] = account
    return add


def doc(action: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})


class Seeder:
    def __init__(self, moto_endpoint: str, credentials: dict | None = None, account: str = ACCOUNT):
        self.endpoint = moto_endpoint
        self.account = account
        cfg = Config(retries={"max_attempts": 1}, max_pool_connections=16, s3={"addressing_style": "path"})
        creds = credentials or {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
                                "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
        kw = dict(endpoint_url=moto_endpoint, region_name="us-east-1", config=cfg, **creds)
        self.iam = boto3.client("iam", **kw)
        self.s3 = boto3.client("s3", **kw)
        self.sts = boto3.client("sts", **kw)
        self.sqs = boto3.client("sqs", **kw)
        if credentials is None:
            # moto serves several accounts: the long-term key's requests are this account's.
            for client in (self.iam, self.s3, self.sts, self.sqs):
                client.meta.events.register("before-send.*.*", _in_account(account))

    def in_account(self, account: str, role: str) -> "Seeder":
        """A seeder inside another account of the emulator, entered through `role` there."""
        c = self.sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="bench-seed")["Credentials"]
        return Seeder(self.endpoint, {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
                                      "aws_session_token": c["SessionToken"]}, account)

    def reset(self) -> None:
        """Empties the emulated account, then puts back what every run expects: the evidence
        bucket and the managed deny policy Cloud Custodian attaches (a one-time setup in a real account)."""
        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset", data=b"", method="POST")
        urllib.request.urlopen(req, timeout=60).read()
        self.s3.create_bucket(Bucket=BUCKET)
        self.iam.create_policy(PolicyName=DENY_POLICY_NAME, PolicyDocument=DENY_ALL)
        self.iam.create_policy(PolicyName="BenchDeploy", PolicyDocument=doc("cloudformation:*"))

    def user(self, name: str, groups: int = 3, rich: bool = True) -> dict:
        """A compromised-looking user: two active keys (IAM's limit), `groups` groups each with an
        inline and a managed policy, two inline and two managed policies of its own, a console
        password, an MFA device and tags."""
        iam = self.iam
        arn = iam.create_user(UserName=name, Path="/bench/", Tags=[
            {"Key": "team", "Value": "platform"}, {"Key": "owner", "Value": "ci"}])["User"]["Arn"]
        keys = [iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"] for _ in range(2)]
        iam.put_user_policy(UserName=name, PolicyName="deploy-everything", PolicyDocument=ALLOW_ALL)
        iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
        if rich:
            iam.put_user_policy(UserName=name, PolicyName="read-secrets", PolicyDocument=doc("secretsmanager:GetSecretValue"))
            iam.attach_user_policy(UserName=name, PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/BenchDeploy")
        managed = ["arn:aws:iam::aws:policy/AWSLambda_FullAccess", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
                   "arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess"]
        for g in range(groups):
            group = f"{name}-g{g + 1}"
            iam.create_group(GroupName=group)
            iam.put_group_policy(GroupName=group, PolicyName=f"group-{g + 1}", PolicyDocument=doc(f"lambda:Get{g}*"))
            iam.attach_group_policy(GroupName=group, PolicyArn=managed[g % len(managed)])
            iam.add_user_to_group(GroupName=group, UserName=name)
        if rich:
            iam.create_login_profile(UserName=name, Password="Correct-Horse-Battery-9")
            serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{name}-phone")["VirtualMFADevice"]["SerialNumber"]
            iam.enable_mfa_device(UserName=name, SerialNumber=serial, AuthenticationCode1="123456",
                                  AuthenticationCode2="654321")
        return {"name": name, "arn": arn, "keys": keys}

    def users(self, names: list[str], groups: int = 1) -> list[dict]:
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(lambda n: self.user(n, groups=groups, rich=False), names))

    def user_with_policies(self, name: str, each: int = 10) -> dict:
        """A user with `each` inline policies, `each` customer managed policies attached (IAM's
        default quota is 10) and `each` groups with an inline policy each: 3 x `each` policies."""
        iam = self.iam
        user = self.user(name, groups=0, rich=False)
        iam.delete_user_policy(UserName=name, PolicyName="deploy-everything")
        iam.detach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
        for i in range(each):
            iam.put_user_policy(UserName=name, PolicyName=f"inline-{i + 1:02d}", PolicyDocument=doc(f"s3:Get{i}*"))
            arn = iam.create_policy(PolicyName=f"{name}-m{i + 1:02d}", PolicyDocument=doc(f"ec2:Describe{i}*"))["Policy"]["Arn"]
            iam.attach_user_policy(UserName=name, PolicyArn=arn)
            group = f"{name}-g{i + 1:02d}"
            iam.create_group(GroupName=group)
            iam.put_group_policy(GroupName=group, PolicyName="group-inline", PolicyDocument=doc(f"lambda:Get{i}*"))
            iam.add_user_to_group(GroupName=group, UserName=name)
        return user

    def user_at_limits(self, name: str) -> dict:
        """A user with no room for another policy: inline documents filling IAM's 2,048 characters
        for a user and the 10 managed policies of IAM's default quota attached. Moto enforces
        neither; the bench's proxy answers `LimitExceeded` as IAM would for this user."""
        iam = self.iam
        user = self.user(name, groups=0, rich=False)
        iam.delete_user_policy(UserName=name, PolicyName="deploy-everything")
        iam.detach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
        # Four documents of ~500 characters (IAM counts them without whitespace): 2,000 of 2,048 used.
        actions = [f"s3:GetObjectVersion{i:03d}" for i in range(17)]
        filler = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions,
                                                                      "Resource": "*"}]}, separators=(",", ":"))
        for i in range(4):
            iam.put_user_policy(UserName=name, PolicyName=f"fill-{i + 1}", PolicyDocument=filler)
        used = 4 * len(filler)
        for i in range(10):
            arn = iam.create_policy(PolicyName=f"{name}-m{i + 1:02d}", PolicyDocument=doc(f"ec2:Describe{i}*"))["Policy"]["Arn"]
            iam.attach_user_policy(UserName=name, PolicyArn=arn)
        return dict(user, inline_chars=used)

    def role(self, name: str) -> dict:
        """An EC2 instance role: trust policy, an inline and a managed policy, an instance profile, a tag."""
        iam = self.iam
        arn = iam.create_role(RoleName=name, Path="/service/", AssumeRolePolicyDocument=EC2_TRUST,
                              Tags=[{"Key": "service", "Value": "payments"}])["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="read-secrets", PolicyDocument=doc("secretsmanager:GetSecretValue"))
        iam.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
        iam.create_instance_profile(InstanceProfileName=name)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        return {"name": name, "arn": arn}

    def role_in_accounts(self, name: str, accounts: list[str], threads: int = 4) -> None:
        """The same role in each of `accounts` (a CI deployer's: a trust policy, an inline policy, a
        customer managed policy of its account, a tag), each request told to moto as that account's
        (`x-moto-account-id`): no STS call per account, and nothing of it measured."""
        iam, local = self.per_account_iam()

        def seed(account: str) -> None:
            local.account = account
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=EC2_TRUST,
                            Tags=[{"Key": "team", "Value": "platform"}])
            iam.put_role_policy(RoleName=name, PolicyName="deploy", PolicyDocument=doc("cloudformation:*"))
            managed = iam.create_policy(PolicyName=f"{name}-read", PolicyDocument=doc("s3:Get*"))["Policy"]["Arn"]
            iam.attach_role_policy(RoleName=name, PolicyArn=managed)
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(seed, accounts))

    def role_policy_in_accounts(self, name: str, policy: str, accounts: list[str], threads: int = 4) -> dict:
        """{account: the document of `name`'s inline policy `policy` there, or None}, read from moto."""
        iam, local = self.per_account_iam()

        def read(account: str):
            local.account = account
            if policy not in iam.list_role_policies(RoleName=name)["PolicyNames"]:
                return account, None
            document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            return account, document if isinstance(document, dict) else json.loads(document)
        with ThreadPoolExecutor(threads) as pool:
            return dict(pool.map(read, accounts))

    def per_account_iam(self):
        """An IAM client whose requests go to the account its thread names (`local.account`)."""
        local = threading.local()
        iam = boto3.client("iam", endpoint_url=self.endpoint, region_name="us-east-1",
                           config=Config(retries={"max_attempts": 1}, max_pool_connections=16),
                           aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
                           aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")

        def add(request, **_):
            request.headers["x-moto-account-id"] = local.account
        iam.meta.events.register("before-send.*.*", add)
        return iam, local

    def key_statuses(self, user: str) -> dict:
        return {k["AccessKeyId"]: k["Status"] for k in self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}

    def evidence_count(self) -> int:
        return sum(page.get("KeyCount", 0) for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET))
