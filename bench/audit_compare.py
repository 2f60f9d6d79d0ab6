"""`make audit-compare`: Tourniquet's `audit` and Prowler's IAM checks on the same emulated account,
side by side; writes AUDIT.md.

The account is seeded on moto to break each of the audit's checks once and keep it once (the
scene of tests/tests/audit.rs). The real `audit` binary runs under the local Runtime API stub and
its stored report is read back; Prowler (pinned, in a virtualenv of its own: it pins an older boto3
than Cloud Custodian in the bench's) runs `--services iam` against the same emulator through
AWS_ENDPOINT_URL. Every pair of checks both make is compared resource by resource; a disagreement
is printed with its explanation from EXPLAINED below, and one without an explanation fails the run.

Usage: bench/.venv-bench/bin/python bench/audit_compare.py [--prowler PATH] [--output AUDIT.md]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from run import LOGS, OUT, Moto  # noqa: E402
from runtime_stub import FunctionProcess  # noqa: E402

ACCOUNT = "123456789012"  # moto's default account: Prowler's requests carry no account header
BUCKET = "tourniquet-audit-compare"
TRUST_ACCOUNT = "999988887777"
PROTECTED = ("arn:aws:iam::*:role/BreakGlass,arn:aws:iam::*:user/breakglass-user,"
             "arn:aws:iam::*:role/EmergencyAccess")
CREDS = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}

# Each audit check and the Prowler checks that judge the same practice (Prowler's verdict on a
# resource is FAIL when any of them fails it).
PAIRS = {
    "root-mfa": ["iam_root_mfa_enabled"],
    "root-access-keys": ["iam_no_root_access_key"],
    "root-unused": ["iam_avoid_root_usage"],
    "console-mfa": ["iam_user_mfa_enabled_console_access"],
    "key-rotated": ["iam_rotate_access_key_90_days"],
    "unused-credentials": ["iam_user_accesskey_unused", "iam_user_console_access_unused"],
    "one-active-key": ["iam_user_two_active_access_key"],
    "password-length": ["iam_password_policy_minimum_length_14"],
    "password-reuse": ["iam_password_policy_reuse_24"],
    "password-complexity": ["iam_password_policy_uppercase", "iam_password_policy_lowercase",
                            "iam_password_policy_number", "iam_password_policy_symbol"],
    "direct-policies": ["iam_policy_attached_only_to_group_or_roles"],
    "admin-policy": ["iam_customer_attached_policy_no_administrative_privileges",
                     "iam_customer_unattached_policy_no_administrative_privileges",
                     "iam_aws_attached_policy_no_administrative_privileges",
                     "iam_inline_policy_no_administrative_privileges"],
}

# Where the audit gives no verdict because its check does not apply to the resource, and Prowler
# passes it: not a disagreement (neither reports anything), counted apart.
NOT_APPLICABLE = {
    "console-mfa": "no console password",
    "key-rotated": "no active access key",
    "one-active-key": "no active access key",
    "unused-credentials": "no console password and no active access key",
    "admin-policy": "an inline policy that does not allow `*` on `*` (the audit names inline policies only when they do)",
}

# Why the two disagree on a (check, resource), where they do: written from a run, each checked
# against the code of both sides. A disagreement not listed here fails the run.
EXPLAINED: dict[tuple[str, str], str] = {
    ("root-mfa", "account"):
        "moto's credential report has no root row. Prowler judges the root user from that row only, so it "
        "gives no verdict; the audit falls back to `GetAccountSummary` (`AccountMFAEnabled`, which moto fixes "
        "at 0). On AWS the row exists and both read it.",
    ("root-access-keys", "account"):
        "the same: no root row, so no Prowler verdict; the audit reads `AccountAccessKeysPresent` (0 on moto).",
}


def doc(statement: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def allow(actions: list[str], condition: dict | None = None) -> str:
    s = {"Effect": "Allow", "Action": actions, "Resource": "*"}
    if condition:
        s["Condition"] = condition
    return doc(s)


def seed(endpoint: str) -> None:
    """The scene of tests/tests/audit.rs: each check broken once and kept once."""
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", config=Config(retries={"max_attempts": 1}),
              aws_access_key_id=CREDS["AWS_ACCESS_KEY_ID"], aws_secret_access_key=CREDS["AWS_SECRET_ACCESS_KEY"])
    iam = boto3.client("iam", **kw)
    boto3.client("s3", **kw).create_bucket(Bucket=BUCKET)
    boto3.client("securityhub", **kw).enable_security_hub()
    iam.update_account_password_policy(MinimumPasswordLength=8)

    def user(name, password=False, mfa=False, keys=0):
        iam.create_user(UserName=name)
        if password:
            iam.create_login_profile(UserName=name, Password="Correct-Horse-9")
        if mfa:
            serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{name}-mfa")["VirtualMFADevice"]["SerialNumber"]
            iam.enable_mfa_device(UserName=name, SerialNumber=serial, AuthenticationCode1="123456",
                                  AuthenticationCode2="654321")
        return [iam.create_access_key(UserName=name)["AccessKey"] for _ in range(keys)]

    user("alice", password=True, mfa=True)
    iam.create_group(GroupName="developers")
    iam.add_user_to_group(GroupName="developers", UserName="alice")
    user("bob", password=True)
    iam.put_user_policy(UserName="bob", PolicyName="extra", PolicyDocument=allow(["s3:GetObject"]))
    user("svc-build", keys=2)
    user("svc-idle")
    user("carol", keys=1)
    glass = user("breakglass-user", keys=1)[0]
    boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=glass["AccessKeyId"],
                 aws_secret_access_key=glass["SecretAccessKey"]).get_caller_identity()
    power = iam.create_policy(PolicyName="PowerAll", PolicyDocument=allow(["*"]))["Policy"]["Arn"]
    iam.create_policy(PolicyName="ReadOnlyS3", PolicyDocument=allow(["s3:Get*", "s3:List*"]))
    lam = doc({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})
    other = {"AWS": f"arn:aws:iam::{TRUST_ACCOUNT}:root"}

    def role(name, trust, inline=None):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
        if inline:
            iam.put_role_policy(RoleName=name, PolicyName="work", PolicyDocument=inline)

    role("ops-admin", lam)
    iam.attach_role_policy(RoleName="ops-admin", PolicyArn=power)
    role("lambda-exec", lam)
    role("vendor-access", doc({"Effect": "Allow", "Principal": other, "Action": "sts:AssumeRole"}))
    role("partner-access", doc({"Effect": "Allow", "Principal": other, "Action": "sts:AssumeRole",
                                "Condition": {"StringEquals": {"sts:ExternalId": "partner-7"}}}))
    role("platform-deployer", lam, allow(["iam:CreateRole", "iam:AttachRolePolicy"]))
    role("team-deployer", lam, allow(["iam:CreateRole"], {"StringEquals": {
        "iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/boundary"}}))
    role("BreakGlass", doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                            "Action": "sts:AssumeRole", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}))


def run_audit(endpoint: str, binary: Path) -> dict:
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "EVIDENCE_BUCKET": BUCKET,
           "PROTECTED_PRINCIPALS": PROTECTED, **CREDS}
    fn = FunctionProcess([str(binary)], env, str(LOGS / "audit-compare.log"), name="audit")
    try:
        inv = fn.invoke({"audit": "compare"}, timeout=300)
    finally:
        fn.stop()
    answer = inv.result if isinstance(inv.result, dict) else {}
    if answer.get("status") != "audited":
        sys.exit(f"audit did not answer `audited`: {json.dumps(answer)[:2000]}")
    key = next(e["key"] for e in answer["evidence"] if e["key"].endswith("/report.json"))
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id=CREDS["AWS_ACCESS_KEY_ID"], aws_secret_access_key=CREDS["AWS_SECRET_ACCESS_KEY"])
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def run_prowler(endpoint: str, prowler: Path) -> tuple[list[dict], str]:
    out = OUT / "prowler"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_DEFAULT_REGION="us-east-1", **CREDS)
    env.pop("AWS_PROFILE", None)
    cmd = [str(prowler), "aws", "--services", "iam", "--region", "us-east-1", "--output-formats", "json-ocsf",
           "--output-directory", str(out), "--output-filename", "prowler", "--no-banner", "--ignore-exit-code-3"]
    t = time.perf_counter()
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    (LOGS / "prowler.log").write_text(run.stdout + run.stderr)
    files = list(out.glob("*.ocsf.json"))
    if not files:
        sys.exit(f"Prowler wrote no findings (exit {run.returncode}); see bench/out/logs/prowler.log")
    version = subprocess.run([str(prowler), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"prowler: {len(files)} file(s) in {time.perf_counter() - t:.1f} s")
    return json.loads(files[0].read_text()), version


def resource_key(uid: str) -> str:
    """Account-level resources (root, password policy, the account) are one resource: `account`."""
    if uid.startswith("AWS::::Account:") or uid.endswith(":root") or "password-policy" in uid or uid == ACCOUNT:
        return "account"
    return uid


def compare(report: dict, prowler: list[dict]) -> tuple[list[dict], dict, list[str]]:
    ours: dict[tuple[str, str], str] = {}
    for v in report["verdicts"]:
        ours[(v["check"], resource_key(v["resource"]["id"]))] = v["status"]
    theirs: dict[str, dict[str, str]] = {}
    for f in prowler:
        check = f["metadata"]["event_code"]
        status = f.get("status_code", "")
        for r in f.get("resources", []):
            key = resource_key(r.get("uid", ""))
            seen = theirs.setdefault(check, {})
            if seen.get(key) != "FAIL":
                seen[key] = status
    rows, unexplained = [], []
    for check, pcheck in PAIRS.items():
        resources = {k for (c, k) in ours if c == check}
        for p in pcheck:
            resources |= set(theirs.get(p, {}))
        for resource in sorted(resources):
            mine = ours.get((check, resource))
            verdicts = [theirs.get(p, {}).get(resource) for p in pcheck]
            verdicts = [v for v in verdicts if v]
            prowl = "FAIL" if "FAIL" in verdicts else ("PASS" if verdicts else None)
            mine_short = {"FAILED": "FAIL", "PASSED": "PASS"}.get(mine or "", None)
            agree = mine_short == prowl
            na = mine_short is None and prowl == "PASS" and check in NOT_APPLICABLE
            why = NOT_APPLICABLE[check] if na else ("" if agree else EXPLAINED.get((check, resource), ""))
            if not agree and not why:
                unexplained.append(f"{check} {resource}: audit {mine_short or 'no verdict'}, Prowler {prowl or 'no verdict'}")
            rows.append({"check": check, "prowler": ", ".join(pcheck), "resource": resource,
                         "audit": mine_short or "-", "prowler_verdict": prowl or "-", "agree": agree, "na": na,
                         "why": why})
    unpaired = {c: v for c, v in theirs.items() if not any(c in ps for ps in PAIRS.values())}
    return rows, unpaired, unexplained


# The Prowler checks that fail in this account and have no audit pair: AUDIT.md's prose names and
# explains each; a run where the set differs fails, so that the prose is rewritten, not left stale.
PROWLER_ONLY_FAILING = {
    "iam_user_hardware_mfa_enabled", "iam_role_cross_service_confused_deputy_prevention",
    "iam_no_custom_policy_permissive_role_assumption", "iam_policy_no_full_access_to_cloudtrail",
    "iam_policy_no_full_access_to_kms", "iam_policy_no_wildcard_marketplace_subscribe",
    "iam_password_policy_expires_passwords_within_90_days_or_less", "iam_check_saml_providers_sts",
    "iam_support_role_created", "iam_securityaudit_role_created",
}


def render(rows: list[dict], unpaired: dict, report: dict, version: str) -> str:
    ours_only = sorted({v["check"] for v in report["verdicts"]} - set(PAIRS))
    lines = [
        "# The readiness audit beside Prowler",
        "",
        f"Written by `make audit-compare` (bench/audit_compare.py): Tourniquet's `audit` binary and {version} "
        "(`prowler aws --services iam`) against the same moto account, seeded to break each of the audit's "
        "checks once and keep it once (the scene of tests/tests/audit.rs). Verdicts are compared resource by "
        "resource; account-level resources (root, password policy) are one row. A disagreement is explained "
        "in its row, or the run fails.",
        "",
        "| audit check | Prowler check(s) | resource | audit | Prowler | |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        mark = ("agree" if r["agree"] else f"not applicable to the audit: {r['why']}" if r["na"]
                else f"**differ**: {r['why']}")
        lines.append(f"| `{r['check']}` | {r['prowler']} | `{r['resource']}` | {r['audit']} | {r['prowler_verdict']} | {mark} |")
    agree = sum(r["agree"] for r in rows)
    na = sum(r["na"] for r in rows)
    differ = len(rows) - agree - na
    lines += ["", f"Of {len(rows)} (check, resource) pairs: {agree} the same verdict, {na} where the audit's check does "
              f"not apply (it gives no verdict) and Prowler passes, {differ} different, each explained in its row. "
              "Both ran on a freshly seeded account and read the real clock, so the 90-day checks pass on both "
              "sides here; tests/tests/audit.rs moves the audit's clock a hundred days to prove their failures, "
              "which Prowler's clock cannot follow.", "",
              "## What only Prowler checks", "",
              "| Prowler check | FAIL | PASS |", "|---|---|---|"]
    for check, verdicts in sorted(unpaired.items()):
        fails = sum(v == "FAIL" for v in verdicts.values())
        lines.append(f"| {check} | {fails} | {len(verdicts) - fails} |")
    lines += ["", "Of these, the ones that fail in this account (read from Prowler's findings): "
              "`iam_user_hardware_mfa_enabled` (every user: a virtual device or none; the audit accepts any MFA "
              "device), `iam_role_cross_service_confused_deputy_prevention` (the four roles trusting "
              "`lambda.amazonaws.com` without `aws:SourceAccount`; the audit's `open-trust` judges AWS principals, "
              "not service principals), `iam_no_custom_policy_permissive_role_assumption` and "
              "`iam_policy_no_full_access_to_cloudtrail`, `_kms`, `iam_policy_no_wildcard_marketplace_subscribe` "
              "(all on `PowerAll`, which the audit reports once, as `admin-policy`), "
              "`iam_password_policy_expires_passwords_within_90_days_or_less` (the audit does not ask for expiry), "
              "`iam_check_saml_providers_sts` (no SAML provider), `iam_support_role_created` and "
              "`iam_securityaudit_role_created` (account setup the audit leaves to Prowler).", "",
              "## What only the audit checks", "",
              "In this account: `open-trust` fails `vendor-access`, a role another account may assume without an "
              "external id or organization condition, which no Prowler check fails; `unbounded-delegation` fails "
              "`platform-deployer`, which may create roles and attach policies to them without a permissions "
              "boundary. Prowler's `iam_inline_policy_allows_privilege_escalation` passes that role's inline "
              "policy, and its `iam_policy_allows_privilege_escalation` passes `PowerAll` (`*` on `*`), although "
              "its list of escalation actions names `iam:AttachRolePolicy` alone; why it passes them on this "
              "account was not investigated. The break-glass checks and `application-keys` read Tourniquet's own "
              "configuration (`PROTECTED_PRINCIPALS`, `AUDIT_APPLICATION_USERS`), which Prowler does not have.", ""]
    lines += [""]
    for check in ours_only:
        n = [v for v in report["verdicts"] if v["check"] == check]
        fails = sum(v["status"] == "FAILED" for v in n)
        lines.append(f"- `{check}`: {fails} failed, {len(n) - fails} passed")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prowler", default=str(HERE / ".venv-prowler/bin/prowler"))
    ap.add_argument("--binary", default=str(ROOT / "target/debug/audit"))
    ap.add_argument("--output", default=str(ROOT / "AUDIT.md"))
    args = ap.parse_args()
    LOGS.mkdir(parents=True, exist_ok=True)
    moto = Moto(load_managed=True, log_name="moto-audit-compare.log")
    try:
        seed(moto.endpoint)
        report = run_audit(moto.endpoint, Path(args.binary))
        findings, version = run_prowler(moto.endpoint, Path(args.prowler))
    finally:
        moto.stop()
    rows, unpaired, unexplained = compare(report, findings)
    Path(args.output).write_text(render(rows, unpaired, report, version))
    print(f"wrote {args.output}: {sum(r['agree'] for r in rows)}/{len(rows)} verdicts agree")
    for u in unexplained:
        print(f"UNEXPLAINED: {u}")
    failing = {c for c, v in unpaired.items() if "FAIL" in v.values()}
    if failing != PROWLER_ONLY_FAILING:
        print(f"the Prowler-only failures changed (now {sorted(failing ^ PROWLER_ONLY_FAILING)} differ): "
              "rewrite the prose in render() and PROWLER_ONLY_FAILING")
        return 1
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
