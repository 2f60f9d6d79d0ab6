"""Baseline: a straightforward Python/boto3 responder, as existing Python incident responders are
written, run as a Lambda function under the same Runtime API stub as Tourniquet.

For every principal the event names, one call after another, the containment writes first (as a
fair sequential responder would: the deny, the key the event names, the session cutoff, then the
other keys once listed), the snapshot after them:
  user: PutUserPolicy TourniquetDenyAll, UpdateAccessKey Inactive of the named key,
        PutUserPolicy TourniquetRevokeOlderSessions, ListAccessKeys and UpdateAccessKey Inactive per
        other active key; then the snapshot (GetUser, ListAccessKeys, GetAccessKeyLastUsed per key, ListUserPolicies +
        GetUserPolicy per policy, ListAttachedUserPolicies + GetPolicy/GetPolicyVersion per policy,
        ListGroupsForUser + per group its inline and managed policies with documents,
        GetLoginProfile, ListMFADevices, ListUserTags, ListSigningCertificates, ListSSHPublicKeys,
        ListServiceSpecificCredentials), TagUser, and the evidence (snapshot and report) to S3.
  role: PutRolePolicy TourniquetRevokeOlderSessions; then the snapshot (GetRole, ListRolePolicies +
        GetRolePolicy, ListAttachedRolePolicies + GetPolicy/GetPolicyVersion,
        ListInstanceProfilesForRole, ListRoleTags), TagRole, the evidence to S3.
BOTO3_ORDER=snapshot-first: the order of responders that record before they act (the whole
snapshot, then every write), kept as a second, labelled row.
What it does not do: protected principals, its own identity, replays, fallback routes when a
policy does not fit, write-once evidence with checksums, a manifest.

Standard library + boto3. Environment: the Lambda runtime's, EVIDENCE_BUCKET, AWS_ENDPOINT_URL.
"""

import datetime
import http.client
import json
import os

import boto3
from botocore.config import Config

DENY_ALL = json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})

iam = boto3.client("iam")
s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}))
BUCKET = os.environ["EVIDENCE_BUCKET"]


def revoke_policy(cutoff: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}}}]})


def managed_document(arn):
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
    return version["PolicyVersion"]["Document"]


def paginate(method, key, **kwargs):
    out = []
    for page in iam.get_paginator(method).paginate(**kwargs):
        out.extend(page[key])
    return out


def snapshot_user(name):
    snap = {"user": iam.get_user(UserName=name)["User"]}
    keys = paginate("list_access_keys", "AccessKeyMetadata", UserName=name)
    for key in keys:
        key["LastUsed"] = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"]).get("AccessKeyLastUsed")
    snap["access_keys"] = keys
    snap["inline_policies"] = {
        p: iam.get_user_policy(UserName=name, PolicyName=p)["PolicyDocument"]
        for p in paginate("list_user_policies", "PolicyNames", UserName=name)}
    snap["managed_policies"] = {
        p["PolicyArn"]: managed_document(p["PolicyArn"])
        for p in paginate("list_attached_user_policies", "AttachedPolicies", UserName=name)}
    groups = []
    for g in paginate("list_groups_for_user", "Groups", UserName=name):
        gname = g["GroupName"]
        groups.append({
            "name": gname,
            "inline_policies": {
                p: iam.get_group_policy(GroupName=gname, PolicyName=p)["PolicyDocument"]
                for p in paginate("list_group_policies", "PolicyNames", GroupName=gname)},
            "managed_policies": {
                p["PolicyArn"]: managed_document(p["PolicyArn"])
                for p in paginate("list_attached_group_policies", "AttachedPolicies", GroupName=gname)},
        })
    snap["groups"] = groups
    try:
        snap["login_profile"] = iam.get_login_profile(UserName=name)["LoginProfile"]
    except iam.exceptions.NoSuchEntityException:
        snap["login_profile"] = None
    snap["mfa_devices"] = paginate("list_mfa_devices", "MFADevices", UserName=name)
    snap["tags"] = paginate("list_user_tags", "Tags", UserName=name)
    snap["signing_certificates"] = paginate("list_signing_certificates", "Certificates", UserName=name)
    snap["ssh_public_keys"] = paginate("list_ssh_public_keys", "SSHPublicKeys", UserName=name)
    try:  # not every IAM implementation answers this one (moto does not)
        snap["service_specific_credentials"] = iam.list_service_specific_credentials(
            UserName=name)["ServiceSpecificCredentials"]
    except Exception as err:
        snap["service_specific_credentials"] = {"unavailable": str(err)}
    return snap


def snapshot_role(name):
    snap = {"role": iam.get_role(RoleName=name)["Role"]}
    snap["inline_policies"] = {
        p: iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
        for p in paginate("list_role_policies", "PolicyNames", RoleName=name)}
    snap["managed_policies"] = {
        p["PolicyArn"]: managed_document(p["PolicyArn"])
        for p in paginate("list_attached_role_policies", "AttachedPolicies", RoleName=name)}
    snap["instance_profiles"] = paginate("list_instance_profiles_for_role", "InstanceProfiles", RoleName=name)
    snap["tags"] = paginate("list_role_tags", "Tags", RoleName=name)
    return snap


SNAPSHOT_FIRST = os.environ.get("BOTO3_ORDER") == "snapshot-first"


def contain_writes(kind, name, cutoff, named_key, steps):
    """The containment writes: what a responder must do before anything else."""
    if kind == "user":
        iam.put_user_policy(UserName=name, PolicyName="TourniquetDenyAll", PolicyDocument=DENY_ALL)
        steps.append("attach_deny_all")
        if named_key:
            iam.update_access_key(UserName=name, AccessKeyId=named_key, Status="Inactive")
            steps.append(f"deactivate_access_key {named_key}")
        iam.put_user_policy(UserName=name, PolicyName="TourniquetRevokeOlderSessions",
                            PolicyDocument=revoke_policy(cutoff))
        steps.append("revoke_sessions")
        for key in paginate("list_access_keys", "AccessKeyMetadata", UserName=name):
            if key["Status"] == "Active" and key["AccessKeyId"] != named_key:
                iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
                steps.append(f"deactivate_access_key {key['AccessKeyId']}")
    else:
        iam.put_role_policy(RoleName=name, PolicyName="TourniquetRevokeOlderSessions",
                            PolicyDocument=revoke_policy(cutoff))
        steps.append("revoke_sessions")


def contain(kind, name, incident, cutoff, named_key=None):
    steps = []
    try:
        tags = [{"Key": "tourniquet:incident", "Value": incident},
                {"Key": "tourniquet:contained-at", "Value": cutoff},
                {"Key": "tourniquet:session-cutoff", "Value": cutoff}]
        if SNAPSHOT_FIRST:
            snap = snapshot_user(name) if kind == "user" else snapshot_role(name)
            contain_writes(kind, name, cutoff, None, steps)
        else:
            contain_writes(kind, name, cutoff, named_key, steps)
            snap = snapshot_user(name) if kind == "user" else snapshot_role(name)
        if kind == "user":
            iam.tag_user(UserName=name, Tags=tags)
        else:
            iam.tag_role(RoleName=name, Tags=tags)
        steps.append("tag_principal")
        prefix = f"incidents/{incident}/{cutoff}/{kind}/{name}"
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/snapshot.json", Body=json.dumps(snap, default=str).encode())
        report = {"principal": name, "kind": kind, "status": "contained", "steps": steps}
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/report.json", Body=json.dumps(report).encode())
        return report
    except Exception as err:  # a straightforward responder: report and go on to the next principal
        return {"principal": name, "kind": kind, "status": "failed", "steps": steps, "error": str(err)}


def targets(event):
    """(kind, name, named key) of every principal the event names, and the incident id."""
    detail = event.get("detail", {})
    if event.get("source") == "aws.guardduty":
        details = detail["resource"]["accessKeyDetails"]
        kind = "role" if details.get("userType") == "AssumedRole" else "user"
        key = details.get("accessKeyId") if kind == "user" else None
        return f"guardduty-{detail['id']}", [(kind, details["userName"], key)]
    if event.get("source") == "aws.securityhub":
        found = []
        for finding in detail.get("findings", []):
            for res in finding.get("Resources", []):
                if res["Type"] in ("AwsIamUser", "AwsIamRole"):
                    found.append(("user" if res["Type"] == "AwsIamUser" else "role", res["Id"].rsplit("/", 1)[1],
                                  None))
        return f"securityhub-{event.get('id', 'x')}", found
    return None, []


def handle(event):
    incident, found = targets(event)
    if not found:
        return {"status": "ignored"}
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=1)
    cutoff = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    reports = [contain(kind, name, incident, cutoff, key) for kind, name, key in found]
    ok = all(r["status"] == "contained" for r in reports)
    return {"incident_id": incident, "status": "contained" if ok else "partial", "targets": reports}


def main():
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    conn = http.client.HTTPConnection(host, int(port))
    base = "/2018-06-01/runtime/invocation"
    while True:
        conn.request("GET", f"{base}/next")
        response = conn.getresponse()
        event = json.loads(response.read())
        request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
        try:
            body, outcome = handle(event), "response"
        except Exception as err:
            body, outcome = {"errorType": type(err).__name__, "errorMessage": str(err)}, "error"
        conn.request("POST", f"{base}/{request_id}/{outcome}", body=json.dumps(body, default=str))
        conn.getresponse().read()


if __name__ == "__main__":
    main()
