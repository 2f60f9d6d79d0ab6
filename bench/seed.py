"""Seeding the emulated account (directly on moto, not through the proxy: seeding is not measured)."""

from __future__ import annotations

import json
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


def doc(action: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})


class Seeder:
    def __init__(self, moto_endpoint: str):
        self.endpoint = moto_endpoint
        cfg = Config(retries={"max_attempts": 1}, max_pool_connections=16, s3={"addressing_style": "path"})
        kw = dict(endpoint_url=moto_endpoint, region_name="us-east-1", aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
                  aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", config=cfg)
        self.iam = boto3.client("iam", **kw)
        self.s3 = boto3.client("s3", **kw)

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

    def key_statuses(self, user: str) -> dict:
        return {k["AccessKeyId"]: k["Status"] for k in self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}

    def evidence_count(self) -> int:
        return self.s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0)
