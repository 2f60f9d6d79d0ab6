"""`make bench`: Tourniquet against two baselines (a sequential Python/boto3 responder and Cloud
Custodian), on moto behind a latency/throttling proxy, all on 127.0.0.1; writes BENCHMARKS.md.

Usage: bench/.venv-bench/bin/python bench/run.py [--runs N] [--quick] ...  (see --help)
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import proxy as proxymod  # noqa: E402
import report as reportmod  # noqa: E402
from runtime_stub import FunctionProcess, RssSampler  # noqa: E402
from seed import ACCOUNT, ALLOW_ALL, BUCKET, DENY_ALL, DENY_POLICY_NAME, EC2_TRUST, Seeder  # noqa: E402
from seed import doc as allow_doc  # noqa: E402

OUT = HERE / "out"
LOGS = OUT / "logs"
FUNCTIONS = ["contain", "snapshot", "deactivate-access-keys", "attach-deny-all", "revoke-sessions", "release", "audit"]
ALL_PHASES = "user,role,many,sweep,incidents,shapes,thousand,cold,org,audit"
# The member role's common name in the other accounts (member-role.yaml's default).
MEMBER_ROLE = "TourniquetMember"
MEMBER_ACCOUNTS = ["444455556666", "777788889999"]
# The organization phase: one role of this name in every account, its sessions revoked everywhere.
ORG_ROLE = "ci-deployer"
REVOKE_POLICY = "TourniquetRevokeOlderSessions"
# The work queue as the bench runs it: FIFO by default as in the template (the message group is the
# account), its redrive after 3 receives (WorkMaxReceives), but a visibility timeout of 300 s, the
# function's timeout, instead of the template's 1,800 (six times it, as AWS advises), so that a
# failed item comes back within the run while no item still running is delivered twice.
ORG_VISIBILITY_S = 300
ORG_MAX_RECEIVES = 3
DUMMY_CREDS = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
               "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- moto ------------------------------------------------------------------------------------------

class Moto:
    def __init__(self, load_managed: bool = True, log_name: str = "moto.log"):
        server = Path(os.environ.get("MOTO_SERVER", ROOT / ".venv/bin/moto_server"))
        if not server.exists():
            sys.exit(f"{server} not found: `make bench` creates it (the repo's .venv)")
        self.port = free_port()
        # Several accounts: the bench's own long-term key is told to be ACCOUNT's (the proxy and the
        # seeder say so per request); a member role's session is moto's to place in its account.
        # `load_managed`: every account's IAM holds AWS's managed policies (loaded as the account is
        # first used: a fraction of a second and megabytes an account).
        env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true" if load_managed else "false")
        env.pop("MOTO_ACCOUNT_ID", None)
        self.log = open(LOGS / log_name, "ab")  # a restarted emulator appends
        self.proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(self.port)], env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    sys.exit("moto did not start (see bench/out/logs/moto.log)")
                time.sleep(0.1)

    def cpu_s(self) -> float | None:
        """moto's CPU time so far (user and system), from /proc."""
        return process_cpu_s(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def process_cpu_s(pid: int) -> float | None:
    """A live process's CPU time (user and system), in seconds, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


# --- events ----------------------------------------------------------------------------------------

def load_event(name: str) -> dict:
    return json.loads((ROOT / "events" / name).read_text())


def hex_id() -> str:
    return uuid.uuid4().hex


def guardduty_user_event(user: str, key: str) -> dict:
    event = load_event("guardduty-iam-user.json")
    event["id"] = str(uuid.uuid4())
    event["detail"]["id"] = hex_id()
    details = event["detail"]["resource"]["accessKeyDetails"]
    details["userName"], details["accessKeyId"] = user, key
    return event


def guardduty_role_event(role: str) -> dict:
    event = load_event("guardduty-assumed-role.json")
    event["id"] = str(uuid.uuid4())
    event["detail"]["id"] = hex_id()
    event["detail"]["resource"]["accessKeyDetails"]["userName"] = role
    return event


def securityhub_event(arns: list[str]) -> dict:
    """A Security Hub custom action with one finding per ARN (users and roles)."""
    event = load_event("securityhub-custom-action.json")
    event["id"] = str(uuid.uuid4())
    template = event["detail"]["findings"][1]
    findings = []
    for arn in arns:
        f = copy.deepcopy(template)
        f["Id"] = f"bench-detect/{arn.rsplit('/', 1)[1]}/{uuid.uuid4()}"
        f["Title"] = f"Credentials of {arn} used from outside the account's known egress ranges"
        kind = "AwsIamRole" if ":role/" in arn else "AwsIamUser"
        f["Resources"] = [{"Type": kind, "Id": arn, "Partition": "aws", "Region": "us-east-1"}]
        f["AwsAccountId"] = arn.split(":")[4]
        findings.append(f)
    event["detail"]["findings"] = findings
    return event


def health_event(keys: list[str]) -> dict:
    """An AWS Health exposed-credentials event naming `keys` as its affected entities."""
    event = load_event("health-credentials-exposed.json")
    event["id"] = str(uuid.uuid4())
    detail = event["detail"]
    detail["eventArn"] = detail["eventArn"].rsplit("-", 1)[0] + "-" + uuid.uuid4().hex[:10]
    detail["affectedEntities"] = [{"entityValue": k, "lastUpdatedTime": detail["lastUpdatedTime"]} for k in keys]
    event["resources"] = list(keys)
    detail["eventMetadata"]["publicKey"] = keys[0]
    return event


# --- what a run's records show ---------------------------------------------------------------------

def is_user_deny(r, user: str) -> bool:
    f = r.fields
    if f.get("UserName") != user:
        return False
    if r.action == "PutUserPolicy" and f.get("PolicyName") == "TourniquetDenyAll":
        return True
    if r.action == "AttachUserPolicy" and (is_custodian_deny(f.get("PolicyArn", ""))
                                          or f.get("PolicyArn", "").endswith("/TourniquetDenyAll")):
        return True
    return r.action == "AddUserToGroup" and f.get("GroupName") == "TourniquetQuarantine"


def is_key_off(r, key: str) -> bool:
    return r.action == "UpdateAccessKey" and r.fields.get("AccessKeyId") == key and r.fields.get("Status") == "Inactive"


def is_role_cut(r, role: str) -> bool:
    """The write that cuts a role's stolen sessions off: the revoke-older-sessions policy, or a deny-all."""
    f = r.fields
    if f.get("RoleName") != role:
        return False
    if r.action == "PutRolePolicy" and f.get("PolicyName") in ("TourniquetRevokeOlderSessions", "TourniquetDenyAll"):
        return True
    return r.action == "AttachRolePolicy" and (is_custodian_deny(f.get("PolicyArn", ""))
                                               or "/tourniquet/" in f.get("PolicyArn", ""))


def is_custodian_deny(arn: str) -> bool:
    """The managed deny Cloud Custodian's set-policy attaches, in whichever account."""
    return arn.startswith("arn:aws:iam::") and arn.endswith(f":policy/{DENY_POLICY_NAME}")


def is_write(action: str) -> bool:
    return action.startswith(("Put", "Update", "Tag", "Attach", "AddUserToGroup", "CreatePolicy"))


# A requirement: (the name or key id the request must carry, what the request must be).
def user_requirements(user: dict) -> list:
    return [(user["name"], lambda r, u=user["name"]: is_user_deny(r, u))] + [
        (k, lambda r, k=k: is_key_off(r, k)) for k in user["keys"]]


def role_requirements(role: dict) -> list:
    return [(role["name"], lambda r, n=role["name"]: is_role_cut(r, n))]


def subject_index(records) -> dict:
    """The records' indexes by the user, role and key they name."""
    index: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        for k in ("UserName", "RoleName", "AccessKeyId"):
            if r.fields.get(k):
                index.setdefault(r.fields[k], []).append(i)
    return index


def all_contained(records, principals: list[list]) -> bool:
    index = subject_index(records)
    return all(any(records[i].status == 200 and need(records[i]) for i in index.get(subject, ()))
               for reqs in principals for subject, need in reqs)


def contained_at(records, depth, requirements, index):
    """(end time, wave, [wave of each requirement]) at which every requirement had a successful
    request, or None."""
    ends, waves = [], []
    for subject, need in requirements:
        hits = [(records[i].end, depth[i]) for i in index.get(subject, ())
                if records[i].status == 200 and need(records[i])]
        if not hits:
            return None
        end, wave = min(hits)
        ends.append(end)
        waves.append(wave)
    return max(ends), max(waves), waves, ends


# The IAM requests a containment cannot do without: its writes (deny, session cutoff, keys, the
# fallback routes) and the reads they wait on (the key listing, a key's owner). Tags are not
# containment. Counted from the wire, successful only; the floor is their number over the rate.
CONTAINMENT_ACTIONS = {"PutUserPolicy", "PutRolePolicy", "UpdateAccessKey", "ListAccessKeys", "CreatePolicy",
                       "AttachUserPolicy", "AttachRolePolicy", "CreateGroup", "AddUserToGroup",
                       "AttachGroupPolicy", "GetAccessKeyLastUsed"}


def analyze(records, t0: float, t_done: float, principals: list[list]) -> dict:
    """Figures of one run. `principals`: for each principal, its list of requirements."""
    depth = proxymod.depths(records)
    index = subject_index(records)
    contained = [contained_at(records, depth, reqs, index) for reqs in principals]
    done = [c for c in contained if c]
    first = min((r.start for r in records), default=t0)
    errors: dict[str, int] = {}
    for r in records:
        if r.status >= 300 and not r.throttled and r.status != 404:
            errors[f"{r.action} {r.status}"] = errors.get(f"{r.action} {r.status}", 0) + 1
    out = {
        "complete_s": t_done - t0,
        "requests": len(records),
        "iam_requests": sum(r.service == "iam" for r in records),
        "throttled": sum(r.throttled for r in records),
        "filled": sum(r.filled for r in records),
        "iam_writes": sum(r.service == "iam" and is_write(r.action) for r in records),
        "throttled_writes": sum(r.throttled and is_write(r.action) for r in records),
        "waves": proxymod.waves(records),
        "containment_requests": sum(r.service == "iam" and r.status == 200 and r.action in CONTAINMENT_ACTIONS
                                    and not (r.action == "GetAccessKeyLastUsed" and len(principals) > 1)
                                    for r in records),
        "max_in_flight": proxymod.max_in_flight(records),
        "errors": errors,
        "principals": len(principals),
        "principals_contained": len(done),
        "first_request_s": first - t0,
        # how long a request took through the proxy (its added latency included): above the latency
        # is moto's own time, which grows with the requests it serves at once on 2 cores
        "request_s_median": statistics.median([r.end - r.start for r in records]) if records else None,
    }
    if done and len(done) == len(principals):
        out["contain_s"] = max(c[0] for c in done) - t0
        out["contain_from_first_s"] = max(c[0] for c in done) - first
        out["contain_wave"] = max(c[1] for c in done)
        if len(principals) == 1:
            # user: [deny, the key named in the event, the other key]; role: [the session cut-off]
            out["requirement_waves"] = done[0][2]
            out["requirement_s"] = [e - t0 for e in done[0][3]]
            # The same counted in IAM round trips: the waves before the first IAM request (the S3
            # round trip of intent and ledger, STS) are not IAM's.
            iam_depths = [depth[i] for i, r in enumerate(records) if r.service == "iam"]
            if iam_depths:
                before = min(iam_depths) - 1
                out["requirement_iam_waves"] = [w - before for w in done[0][2]]
                out["iam_waves"] = max(iam_depths) - before
    if done:
        times = sorted(c[0] - t0 for c in done)
        out["first_contained_s"], out["median_contained_s"] = times[0], statistics.median(times)
        if len(principals) >= 50:
            out["contained_times_s"] = times
    by_wave: list[dict] = [dict() for _ in range(max(depth, default=0))]
    for i, r in enumerate(records):
        name = r.action if not r.throttled else f"{r.action} (throttled)"
        if r.action.startswith("S3 "):
            name = r.action.split(" ")[0] + " " + r.action.split(" ")[1]
        by_wave[depth[i] - 1][name] = by_wave[depth[i] - 1].get(name, 0) + 1
    out["by_wave"] = by_wave
    puts = [r for r in records if r.action.startswith("S3 PUT") and r.status == 200]
    if puts:
        out["evidence_objects"] = len(puts)
        out["evidence_bytes"] = sum(r.size for r in puts)
        snaps = [r.size for r in puts if r.action.endswith("/snapshot.json")]
        if snaps:
            out["snapshot_bytes_median"] = statistics.median(snaps)
    evidence = [r.end for r in records if r.action.startswith("S3 PUT")]
    if evidence:
        out["evidence_written_s"] = max(evidence) - t0
    return out


# --- the responders --------------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.moto = Moto()
        self.proxy = proxymod.LatencyProxy(self.moto.port, args.latency_ms,
                                           {DUMMY_CREDS["AWS_ACCESS_KEY_ID"]: ACCOUNT}).start()
        self.seeder = Seeder(self.moto.endpoint)
        self.members: dict[str, Seeder] = {}
        # HUNT=false: the emulator has no CloudTrail event history, and the phases time the
        # containment, which the hunt follows and never delays (tests/tests/hunt.rs proves the order).
        self.env = {"AWS_ENDPOINT_URL": self.proxy.endpoint, "AWS_REGION": "us-east-1",
                    "AWS_DEFAULT_REGION": "us-east-1", "EVIDENCE_BUCKET": BUCKET, "HUNT": "false",
                    **DUMMY_CREDS}
        self.python = sys.executable
        self.custodian = str(Path(sys.executable).parent / "custodian")
        self.counter = 0

    def reset(self) -> None:
        """A fresh emulator: every account emptied (member accounts are entered again on demand)."""
        self.seeder.reset()
        self.members = {}

    def restart_moto(self, load_managed: bool = True, log_name: str = "moto.log") -> None:
        """A new emulator process instead of a reset (resetting hundreds of accounts takes moto
        longer than starting afresh); the proxy forwards to it from its next request on."""
        self.moto.stop()
        self.moto = Moto(load_managed, log_name)
        self.proxy.upstream_port = self.moto.port
        self.seeder = Seeder(self.moto.endpoint)
        self.reset()

    def seeder_for(self, account: str) -> Seeder:
        """Seeding and reading back in `account`: this one, or a member account entered through
        the member role (with the managed deny Cloud Custodian attaches, as in this account)."""
        if account == ACCOUNT:
            return self.seeder
        if account not in self.members:
            member = self.seeder.in_account(account, MEMBER_ROLE + "Contain")
            member.iam.create_policy(PolicyName=DENY_POLICY_NAME, PolicyDocument=DENY_ALL)
            self.members[account] = member
        return self.members[account]

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter:04d}-{uuid.uuid4().hex[:6]}"

    def close(self):
        self.proxy.stop()
        self.moto.stop()

    # A function process: Tourniquet's binary, or the boto3 baseline, under the Runtime API stub.
    def start_function(self, which: str, extra_env: dict | None = None) -> FunctionProcess:
        if which in ("boto3", "boto3sf"):
            argv = [self.python, str(HERE / "boto3_responder.py")]
            if which == "boto3sf":
                extra_env = dict(extra_env or {}, BOTO3_ORDER="snapshot-first")
        else:
            argv = [str(ROOT / "target/release" / which)]
        env = dict(self.env, **(extra_env or {}))
        return FunctionProcess(argv, env, str(LOGS / f"{which}.log"), name=which)

    def invoke(self, fn: FunctionProcess, event: dict, principals: list[list], timeout: float,
               cold_mark: int | None = None, stop_when_contained: bool = False) -> dict:
        """One invocation. Warm: timed from the event handed to the started process. Cold
        (`cold_mark`, the proxy's mark taken before the process was spawned): timed from the process's
        spawn, its init and first poll of the Runtime API included. `stop_when_contained`: the run is
        left once every principal is contained on the wire (where only that is measured); the
        caller stops the process."""
        mark = self.proxy.mark() if cold_mark is None else cold_mark
        until = (lambda: all_contained(self.proxy.since(mark), principals)) if stop_when_contained else None
        inv = fn.invoke(event, timeout, until=until)
        t_done = inv.done if inv.done else time.perf_counter()
        time.sleep(0.02)  # let the proxy log the last response
        records = self.proxy.since(mark)
        start = fn.spawned if cold_mark is not None else (inv.sent or t_done)
        result = analyze(records, start, t_done, principals)
        body = inv.result if isinstance(inv.result, dict) else {}
        if body.get("errorType") == "Bench.Stopped":
            result["stopped_when_contained"] = True
            result.pop("complete_s", None)
        if body.get("errorType") == "PartialContainment":
            # The report of a partial containment is stored with the evidence; the error names it.
            stored = self.stored_report()
            if stored:
                body = dict(stored, errorType=body["errorType"], errorMessage=body.get("errorMessage"))
        result["answered"] = bool(inv.done)
        result["ok"] = inv.ok
        result["status"] = body.get("status") or body.get("errorType")
        if "waves" in body:
            result["report_waves"] = body["waves"]
        if isinstance(body.get("targets"), list):
            result["target_statuses"] = _count(t.get("status") for t in body["targets"])
            failed = [s for t in body["targets"] for s in t.get("steps", [])
                      if isinstance(s, dict) and s.get("outcome") == "failed"]
            result["failed_steps"] = len(failed)
            result["step_outcomes"] = _count(s.get("outcome") for t in body["targets"] for s in t.get("steps", [])
                                             if isinstance(s, dict))
            result["failed_actions"] = _count(s.get("action") for s in failed)
        if body.get("errorType"):
            result["error"] = str(body.get("errorMessage", ""))[:300]
        return result

    def custodian_run(self, policy: dict, principals: list[list], timeout: float) -> dict:
        return self.custodian_runs([(policy, None)], principals, timeout)

    def custodian_runs(self, policies: list[tuple[dict, str | None]], principals: list[list],
                       timeout: float) -> dict:
        """`custodian run` of each policy file, all started at once (`--assume` the role given, as
        c7n-org runs one process per account), timed from the first start to the last exit."""
        work = OUT / "custodian"
        shutil.rmtree(work, ignore_errors=True)
        env = dict(os.environ, **self.env)
        env.pop("AWS_PROFILE", None)
        argvs = []
        for n, (policy, assume) in enumerate(policies):
            here = work / str(n)
            here.mkdir(parents=True)
            (here / "policy.json").write_text(json.dumps(policy, indent=1))
            argvs.append([self.custodian, "run", "-s", str(here / "output"), "--cache-period", "0", "-r", "us-east-1"]
                         + (["--assume", assume] if assume else []) + [str(here / "policy.json")])
        mark = self.proxy.mark()
        t0 = time.perf_counter()
        codes, timed_out = [], False
        with open(LOGS / "custodian.log", "ab") as logf:
            procs = [subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
                     for argv in argvs]
            for proc in procs:
                try:
                    codes.append(proc.wait(max(0.1, t0 + timeout - time.perf_counter())))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    codes.append(proc.wait())
                    timed_out = True
        t_done = time.perf_counter()
        time.sleep(0.02)
        result = analyze(self.proxy.since(mark), t0, t_done, principals)
        result["ok"] = all(c == 0 for c in codes) and not timed_out
        result["answered"] = not timed_out
        result["status"] = "timed out" if timed_out else ", ".join(f"exit {c}" for c in codes)
        return result

    def stored_report(self) -> dict | None:
        """The newest report.json in the evidence bucket (read directly from moto)."""
        s3 = self.seeder.s3
        newest = None
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="incidents/"):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith("/report.json") and (newest is None or obj["Key"] > newest):
                    newest = obj["Key"]
        if newest is None:
            return None
        return json.loads(s3.get_object(Bucket=BUCKET, Key=newest)["Body"].read())

    # --- verification, read back directly from moto --------------------------------------------
    def user_contained(self, user: dict) -> bool:
        """Every key inactive, and a deny-all in force: inline, attached, or the quarantine group's."""
        seeder = self.seeder_for(user.get("account", ACCOUNT))
        iam, name = seeder.iam, user["name"]
        keys_off = all(s == "Inactive" for s in seeder.key_statuses(name).values())
        inline = iam.list_user_policies(UserName=name)["PolicyNames"]
        attached = [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]]
        groups = [g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]]
        return keys_off and ("TourniquetDenyAll" in inline or "TourniquetQuarantine" in groups or any(
            is_custodian_deny(a) or a.endswith("/TourniquetDenyAll") for a in attached))

    def role_contained(self, role: dict) -> bool:
        iam = self.seeder_for(role.get("account", ACCOUNT)).iam
        inline = iam.list_role_policies(RoleName=role["name"])["PolicyNames"]
        attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role["name"])["AttachedPolicies"]]
        return "TourniquetRevokeOlderSessions" in inline or any(is_custodian_deny(a) for a in attached)

    # --- scenarios -------------------------------------------------------------------------------
    def single(self, kind: str, runs: int) -> dict:
        """One principal per event, `runs` times per responder, each in a freshly reset account, the
        responders' order rotated run by run. Every process-based responder is spawned with its first
        event already queued: its cold figure runs from the spawn (init, imports, first poll
        included), like Cloud Custodian's from its process start; its warm figure is the next event
        to the same process."""
        out: dict[str, list] = {k: [] for k in ("tourniquet_cold", "tourniquet_warm", "boto3_cold", "boto3_warm",
                                                 "boto3sf_cold", "boto3sf_warm", "custodian", "tourniquet_gap",
                                                 "boto3_gap")}
        seed = self.seeder.user if kind == "user" else self.seeder.role
        reqs = user_requirements if kind == "user" else role_requirements
        check = self.user_contained if kind == "user" else self.role_contained

        def event(p):
            return guardduty_user_event(p["name"], p["keys"][0]) if kind == "user" else guardduty_role_event(p["name"])

        order = ["tourniquet", "boto3", "boto3sf", "custodian"]
        for i in range(runs):
            k = i % len(order)
            for which in order[k:] + order[:k]:  # rotate, so no responder always goes first
                self.reset()
                if which == "custodian":
                    p = seed(self.name(f"c7n-{kind}"))
                    policy = custodian_policy(kind, [p["name"]], "bench-" + p["name"])
                    r = self.custodian_run(policy, [reqs(p)], timeout=120)
                    r["verified"] = check(p)
                    out["custodian"].append(r)
                    continue
                principals = [("cold", seed(self.name(f"{which[:4]}-{kind}"))),
                              ("warm", seed(self.name(f"{which[:4]}-{kind}")))]
                if kind == "user" and self.args.gap_runs > i and which != "boto3sf":
                    principals.append(("gap", seed(self.name(f"{which[:4]}-{kind}"))))
                mark = self.proxy.mark()
                fn = self.start_function("contain" if which == "tourniquet" else which)
                try:
                    for label, p in principals:
                        # "gap": warm again, with moto's HTTP 500 on ListServiceSpecificCredentials left
                        # unfilled: one snapshot read failing with a server error.
                        self.proxy.fill_gaps = label != "gap"
                        try:
                            r = self.invoke(fn, event(p), [reqs(p)], timeout=120,
                                            cold_mark=mark if label == "cold" else None)
                        finally:
                            self.proxy.fill_gaps = True
                        r["verified"] = check(p)
                        r["peak_rss_kb"] = fn.peak_rss_kb()
                        out[f"{which}_{label}"].append(r)
                finally:
                    fn.stop()
            log(f"{kind} run {i + 1}/{runs}: " + ", ".join(
                f"{k} {fmt_s(v[-1].get('contain_s'))}/{fmt_s(v[-1].get('complete_s'))}" for k, v in out.items() if v))
        return out

    def many(self, count: int, runs: int, rate: float, responders: list[str], burst: float,
             stop_when_contained: tuple = ()) -> dict:
        """A synthetic Security Hub custom action naming `count` users, under throttling at `rate`
        (a bucket of `burst`), `runs` times per responder, the order rotated run by run. The
        responders in `stop_when_contained` are left once every user is contained (their time to
        complete is not measured there)."""
        args = self.args
        out: dict[str, list] = {k: [] for k in responders}
        # `tourniquet`: its default pace (IAM_REQUESTS_PER_SECOND unset); `tourniquet_told`: told the rate
        # the proxy allows, as a deployment that knows its account's rate would be.
        plan = [(which, i) for i in range(runs)
                for which in responders[i % len(responders):] + responders[:i % len(responders)]]
        for which, i in plan:
            self.reset()
            t = time.perf_counter()
            users = self.seeder.users([self.name(f"many{i}") for _ in range(count)], groups=1)
            log(f"seeded {count} users in {time.perf_counter() - t:.1f} s")
            event = securityhub_event([u["arn"] for u in users])
            principals = [user_requirements(u) for u in users]
            if which != "tourniquet_unthrottled":
                self.proxy.throttle(rate, burst)
            try:
                if which == "custodian":
                    policy = custodian_policy("user", [u["name"] for u in users], "bench-many")
                    # Custodian runs to its end (it contains everything, at its pace); only the boto3
                    # responder, which would take minutes, is capped.
                    r = self.custodian_run(policy, principals, timeout=300)
                else:
                    told = {"IAM_REQUESTS_PER_SECOND": f"{rate:g}"} if which == "tourniquet_told" else None
                    fn = self.start_function("boto3" if which == "boto3" else "contain", told)
                    try:
                        fn.wait_first_poll()
                        cap = args.baseline_many_cap if which == "boto3" else 300
                        mark = self.proxy.mark()
                        sampler = RssSampler(fn.proc.pid)
                        r = self.invoke(fn, event, principals, timeout=cap,
                                        stop_when_contained=which in stop_when_contained)
                        r["peak_rss_kb"] = fn.peak_rss_kb()
                        samples = sampler.close()
                        # Where the memory goes: RSS when the last IAM request ended (every principal
                        # handled), and just before the first evidence upload (everything serialized).
                        recs = self.proxy.since(mark)
                        puts = [x.start for x in recs if x.action.startswith("S3 PUT")]
                        last_iam = max((x.end for x in recs if x.service == "iam"), default=None)
                        if samples and last_iam:
                            upto = [kb for t, kb in samples if t <= last_iam]
                            r["rss_after_iam_kb"] = max(upto) if upto else None
                        if samples and puts:
                            before = [kb for t, kb in samples if t < min(puts)]
                            r["rss_before_evidence_kb"] = max(before) if before else None
                    finally:
                        fn.stop()
            finally:
                self.proxy.throttle(None)
            r["verified_contained"] = sum(self.user_contained(u) for u in users)
            # The bucket starts full: `burst` requests pass at once, the rest at the rate.
            r["floor_s"] = max(0.0, r["containment_requests"] - burst) / rate
            r["rate"], r["burst"] = rate, burst
            out[which].append(r)
            log(f"many ({which}, {rate:g}/s): {r['principals_contained']}/{count} contained, "
                f"contain {fmt_s(r.get('contain_s'))}, complete {fmt_s(r.get('complete_s'))}, "
                f"throttled {r['throttled']}, waves {r['waves']}, status {r.get('status')}")
        return out

    def incidents(self, runs: int) -> dict:
        """Shapes users meet, each `runs` times per responder under the main throttle, the order
        rotated: a Health event naming many keys (two of one user), users and roles in one event,
        and many separate findings at once, each its own invocation, sharing the account's rate."""
        args = self.args
        n_health, n_mixed, n_separate = args.health_keys, args.mixed, args.separate
        out: dict = {"health": {"tourniquet": [], "custodian": []},
                     "mixed": {"tourniquet": [], "custodian": []},
                     "separate": {"tourniquet": []}}

        def health():
            # n-1 users; the first has both its keys named.
            users = self.seeder.users([self.name("hk") for _ in range(n_health - 1)], groups=1)
            keys = users[0]["keys"][:2] + [u["keys"][0] for u in users[1:]]
            return (health_event(keys), [user_requirements(u) for u in users],
                    custodian_policy("user", [u["name"] for u in users], "bench-health"),
                    lambda: sum(self.user_contained(u) for u in users), len(users))

        def mixed():
            half = n_mixed // 2
            users = self.seeder.users([self.name("mu") for _ in range(half)], groups=1)
            with ThreadPoolExecutor(4) as pool:
                roles = list(pool.map(self.seeder.role, [self.name("mr") for _ in range(n_mixed - half)]))
            policy = custodian_policy("user", [u["name"] for u in users], "bench-mixed")
            policy["policies"] += custodian_policy("role", [r["name"] for r in roles], "bench-mixed")["policies"]
            return (securityhub_event([u["arn"] for u in users] + [r["arn"] for r in roles]),
                    [user_requirements(u) for u in users] + [role_requirements(r) for r in roles], policy,
                    lambda: sum(self.user_contained(u) for u in users) + sum(self.role_contained(r) for r in roles),
                    n_mixed)

        for scenario, make in (("health", health), ("mixed", mixed)):
            if (n_health if scenario == "health" else n_mixed) < 2:
                continue
            order = ["tourniquet", "custodian"]
            for i in range(runs):
                for which in order[i % 2:] + order[:i % 2]:
                    self.reset()
                    event, principals, policy, verify, count = make()
                    r = self.one_incident(which, event, principals, [(policy, None)],
                                          stop_when_contained=scenario == "mixed")
                    r["verified_contained"] = verify()
                    r["expected"] = count
                    out[scenario][which].append(r)
                    log(f"{scenario} ({which}): {r['principals_contained']}/{count} contained, "
                        f"contain {fmt_s(r.get('contain_s'))}, complete {fmt_s(r.get('complete_s'))}, "
                        f"throttled {r['throttled']}, status {r.get('status')}")

        # Separate findings at once: one GuardDuty finding per user, each to its own process, all
        # spawned together with the event queued (cold, from the first spawn), one shared rate.
        for i in range(runs if n_separate > 0 else 0):
            self.reset()
            users = self.seeder.users([self.name("sep") for _ in range(n_separate)], groups=1)
            principals = [user_requirements(u) for u in users]
            self.proxy.throttle(args.throttle_rate, args.throttle_burst)
            mark = self.proxy.mark()
            fns = [self.start_function("contain") for _ in users]
            try:
                invs = [fn.stub.queue_event(guardduty_user_event(u["name"], u["keys"][0]))
                        for fn, u in zip(fns, users)]
                deadline = time.perf_counter() + 300
                while time.perf_counter() < deadline and not all(inv.done for inv in invs):
                    time.sleep(0.05)
                t_done = max((inv.done or time.perf_counter()) for inv in invs)
                time.sleep(0.02)
                r = analyze(self.proxy.since(mark), min(fn.spawned for fn in fns), t_done, principals)
                r["statuses"] = _count((inv.result or {}).get("status") or (inv.result or {}).get("errorType")
                                       if isinstance(inv.result, dict) else None for inv in invs)
                r["peak_rss_kb"] = max((fn.peak_rss_kb() or 0) for fn in fns)
            finally:
                for fn in fns:
                    fn.stop()
                self.proxy.throttle(None)
            r["verified_contained"] = sum(self.user_contained(u) for u in users)
            r["expected"] = n_separate
            r["floor_s"] = max(0.0, r["containment_requests"] - args.throttle_burst) / args.throttle_rate
            out["separate"]["tourniquet"].append(r)
            log(f"separate ({n_separate} invocations): {r['principals_contained']}/{n_separate} contained, "
                f"contain {fmt_s(r.get('contain_s'))}, throttled {r['throttled']}, statuses {r['statuses']}")
        return out

    def one_incident(self, which: str, event: dict, principals: list[list], policies: list, env: dict | None = None,
                     stop_when_contained: bool = False) -> dict:
        """One responder on one incident under the main throttle: Tourniquet's `contain` started and
        polling, then the event (warm, as an incident that is not the function's first); Custodian's
        processes from their start."""
        args = self.args
        self.proxy.throttle(args.throttle_rate, args.throttle_burst)
        try:
            if which == "custodian":
                r = self.custodian_runs(policies, principals, timeout=300)
            else:
                fn = self.start_function("contain", env)
                try:
                    fn.wait_first_poll()
                    r = self.invoke(fn, event, principals, timeout=300, stop_when_contained=stop_when_contained)
                    r["peak_rss_kb"] = fn.peak_rss_kb()
                finally:
                    fn.stop()
        finally:
            self.proxy.throttle(None)
        r["floor_s"] = max(0.0, r["containment_requests"] - args.throttle_burst) / args.throttle_rate
        return r

    def shapes(self, runs: int) -> dict:
        """One incident's shapes beyond its size, `runs` times per responder, the order rotated, under
        the main throttle: principals in three accounts (through the member role; Custodian: one
        process per account with `--assume`, all at once, as c7n-org would run them), a user with 30
        policies (the snapshot pages through them), a user with no room for another policy (the
        fallback routes; Custodian's attach fails as IAM's would), and a replay of the same event."""
        out: dict = {k: {"tourniquet": [], "custodian": []} for k in ("accounts", "policies", "fallback", "replay")}
        member_env = {"MEMBER_ROLE_NAME": MEMBER_ROLE}

        def role_arn(account):
            return None if account == ACCOUNT else f"arn:aws:iam::{account}:role/{MEMBER_ROLE}Contain"

        def accounts():
            users = [dict(self.seeder_for(a).user(self.name("acct"), groups=1, rich=False), account=a)
                     for a in [ACCOUNT] + MEMBER_ACCOUNTS]
            policies = [(custodian_policy("user", [u["name"]], "bench-accounts", u["account"]), role_arn(u["account"]))
                        for u in users]
            return securityhub_event([u["arn"] for u in users]), users, policies, member_env

        def policies():
            u = self.seeder.user_with_policies(self.name("p30"))
            return (guardduty_user_event(u["name"], u["keys"][0]), [u],
                    [(custodian_policy("user", [u["name"]], "bench-policies"), None)], None)

        def fallback():
            u = self.seeder.user_at_limits(self.name("full"))
            # What IAM answers for this user, which moto does not enforce: the inline deny does not fit
            # in the 2,048 characters left, and an 11th managed policy exceeds the quota.
            self.proxy.limits = [
                ("PutUserPolicy", {"UserName": u["name"], "PolicyName": "TourniquetDenyAll"}, "LimitExceeded",
                 f"Maximum policy size of 2048 bytes exceeded for user {u['name']}"),
                ("AttachUserPolicy", {"UserName": u["name"]}, "LimitExceeded",
                 "Cannot exceed quota for PoliciesPerUser: 10")]
            return (guardduty_user_event(u["name"], u["keys"][0]), [u],
                    [(custodian_policy("user", [u["name"]], "bench-fallback"), None)], None)

        for scenario, make in (("accounts", accounts), ("policies", policies), ("fallback", fallback)):
            order = ["tourniquet", "custodian"]
            for i in range(runs):
                for which in order[i % 2:] + order[:i % 2]:
                    self.reset()
                    try:
                        event, users, pols, env = make()
                        principals = [user_requirements(u) for u in users]
                        r = self.one_incident(which, event, principals, pols, env)
                    finally:
                        self.proxy.limits = []
                    r["verified_contained"] = sum(self.user_contained(u) for u in users)
                    r["expected"] = len(users)
                    if which == "tourniquet":
                        r["routes"] = self.stored_routes()
                    out[scenario][which].append(r)
                    log(f"{scenario} ({which}): {r['verified_contained']}/{len(users)} contained (read back), "
                        f"contain {fmt_s(r.get('contain_s'))}, complete {fmt_s(r.get('complete_s'))}, "
                        f"status {r.get('status')}")

        # A replay: the same event again, after the first run contained its user. Tourniquet: the
        # same process (warm); Custodian: the same policy run again. The second run is measured.
        order = ["tourniquet", "custodian"]
        for i in range(runs):
            for which in order[i % 2:] + order[:i % 2]:
                self.reset()
                u = self.seeder.user(self.name("replay"), groups=1, rich=False)
                principals = [user_requirements(u)]
                event = guardduty_user_event(u["name"], u["keys"][0])
                policy = custodian_policy("user", [u["name"]], "bench-replay")
                if which == "custodian":
                    first = self.custodian_run(policy, principals, timeout=120)
                    r = self.custodian_run(policy, principals, timeout=120)
                else:
                    fn = self.start_function("contain")
                    try:
                        fn.wait_first_poll()
                        first = self.invoke(fn, event, principals, timeout=120)
                        r = self.invoke(fn, copy.deepcopy(event), principals, timeout=120)
                    finally:
                        fn.stop()
                r["first_complete_s"] = first.get("complete_s")
                r["first_iam_writes"] = first["iam_writes"]
                r["verified_contained"] = int(self.user_contained(u))
                out["replay"][which].append(r)
                log(f"replay ({which}): second run {fmt_s(r.get('complete_s'))}, IAM writes {r['iam_writes']} "
                    f"(first run {r['first_iam_writes']}), status {r.get('status')}")
        return out

    def stored_routes(self) -> dict:
        """How the newest stored report's deny-all went in: {route: count}."""
        report = self.stored_report() or {}
        return _count(s.get("route") for t in report.get("targets", []) for s in t.get("steps", [])
                      if s.get("action") == "attach_deny_all")

    def thousand(self, count: int) -> dict:
        """One labelled run: more principals than one invocation can finish in Lambda's 300 s, under
        the main throttle, at Tourniquet's default pace. The stub gives the invocation Lambda's
        deadline (300 s); at 300 s the process is stopped, as Lambda would stop it."""
        args = self.args
        self.reset()
        t = time.perf_counter()
        users = self.seeder.users([self.name("k") for _ in range(count)], groups=1)
        log(f"seeded {count} users in {time.perf_counter() - t:.1f} s")
        principals = [user_requirements(u) for u in users]
        event = securityhub_event([u["arn"] for u in users])
        self.proxy.throttle(args.throttle_rate, args.throttle_burst)
        fn = self.start_function("contain")
        try:
            fn.wait_first_poll()
            r = self.invoke(fn, event, principals, timeout=300)
            r["peak_rss_kb"] = fn.peak_rss_kb()
            r["killed_at_timeout"] = r["status"] == "Bench.Timeout"
        finally:
            fn.stop()
            self.proxy.throttle(None)
        r["evidence_objects_stored"] = self.seeder.evidence_count()
        report = self.stored_report() or {}
        r["stored_report"] = bool(report)
        r["stored_report_status"] = report.get("status")
        r["stored_target_statuses"] = _count(t.get("status") for t in report.get("targets", []))
        r["cut_short"] = sum(bool(t.get("message") and "deadline" in t["message"]) for t in report.get("targets", []))
        r["verified_contained"] = sum(self.user_contained(u) for u in users)
        r["expected"] = count
        r["floor_s"] = max(0.0, r["containment_requests"] - args.throttle_burst) / args.throttle_rate
        log(f"thousand: {r['verified_contained']}/{count} contained (read back), contain {fmt_s(r.get('contain_s'))}, "
            f"answer {r.get('status')} after {fmt_s(r.get('complete_s'))}, evidence objects {r['evidence_objects_stored']}")
        return r

    # --- organization scale ----------------------------------------------------------------------
    def org(self, count: int) -> dict:
        """The same role (`ci-deployer`) in `count` accounts, its sessions revoked in every one:
        Tourniquet's `contain` dispatching one work item per account to an SQS queue, consumed by
        an emulation of Lambda's SQS event source mapping at each concurrency of `--org-concurrency`;
        against a sequential boto3 loop of the same calls (AssumeRole, PutRolePolicy). Each from a
        fresh emulator, under the main throttle with one bucket per account and service."""
        args = self.args
        accounts = org_account_ids(count)
        out: dict = {"accounts": count, "tourniquet": {}, "throttle_rate": args.throttle_rate,
                     "queue": args.org_queue,
                     "throttle_burst": args.throttle_burst, "per_account_buckets": True,
                     "visibility_s": ORG_VISIBILITY_S, "max_receives": ORG_MAX_RECEIVES}
        # Member-account sessions tell moto their account (proxy.py: tell_session_accounts), so that
        # moto does not scan every account for each new session key, an emulator cost growing with
        # the accounts (seconds per account) that AWS does not have.
        self.proxy.tell_session_accounts = True
        try:
            for concurrency in args.org_concurrency:
                out["tourniquet"][str(concurrency)] = self.org_tourniquet(accounts, concurrency)
            out["boto3_loop"] = self.org_baseline(accounts)
        finally:
            self.proxy.tell_session_accounts = False
            self.restart_moto()  # the emulator every other phase expects
        return out

    def org_prepare(self, accounts: list[str]) -> dict:
        """A fresh emulator: the role in every account, the work queue and its dead-letter queue. The
        emulator is a new process without AWS's managed policies (nothing here uses them), which
        keeps seeding hundreds of accounts to seconds."""
        self.restart_moto(load_managed=False, log_name="moto-org.log")
        t = time.perf_counter()
        self.seeder.role_in_accounts(ORG_ROLE, accounts)
        sqs = self.seeder.sqs
        # FIFO (the template's): `contain` then sends each item with its account as the message group.
        fifo = self.args.org_queue == "fifo"
        suffix, kind = (".fifo", {"FifoQueue": "true"}) if fifo else ("", {})
        dead = sqs.create_queue(QueueName="tq-work-dead" + suffix, Attributes=kind)["QueueUrl"]
        dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        work = sqs.create_queue(QueueName="tq-work" + suffix, Attributes={
            **kind, "VisibilityTimeout": str(ORG_VISIBILITY_S),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": ORG_MAX_RECEIVES})})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=work, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        log(f"org: seeded {ORG_ROLE} in {len(accounts)} accounts and the work queue in {time.perf_counter() - t:.1f} s")
        return {"work": work, "dead": dead, "arn": arn}

    def queue_depth(self, url: str) -> int:
        """Messages in a queue, visible or in flight (read directly from moto, not measured)."""
        attrs = self.seeder.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return sum(int(v) for v in attrs.values())

    def org_read_back(self, accounts: list[str]) -> dict:
        documents = self.seeder.role_policy_in_accounts(ORG_ROLE, REVOKE_POLICY, accounts)
        return {"verified_contained": sum(d is not None for d in documents.values()),
                "cutoffs": sorted(cutoffs_of(documents))}

    def org_tourniquet(self, accounts: list[str], concurrency: int) -> dict:
        """One run: from the start line (the dispatching `contain` spawned with the organization
        request queued: a cold start), `concurrency` emulated event source mapping workers, each
        with its own `contain` process kept warm (its first invocation cold), each receiving one
        message at a time (BatchSize 1), invoking, deleting the message when `batchItemFailures` is
        empty and leaving it to the visibility timeout otherwise; until the queue is empty."""
        import boto3
        from botocore.config import Config
        args = self.args
        queues = self.org_prepare(accounts)
        incident = f"IR-ORG-{concurrency}-{uuid.uuid4().hex[:6]}"
        env = {"WORK_QUEUE_URL": queues["work"], "MEMBER_ROLE_NAME": MEMBER_ROLE}
        request = {"principal_name": f"role/{ORG_ROLE}", "accounts": accounts, "incident_id": incident,
                   "reason": "bench: CI deployer role compromised across the organization"}
        # The mapping's own SQS calls go through the proxy too (its latency, recorded as sqs).
        esm = boto3.client("sqs", endpoint_url=self.proxy.endpoint, region_name="us-east-1",
                           aws_access_key_id=DUMMY_CREDS["AWS_ACCESS_KEY_ID"],
                           aws_secret_access_key=DUMMY_CREDS["AWS_SECRET_ACCESS_KEY"],
                           config=Config(max_pool_connections=concurrency + 4, retries={"mode": "standard"}))
        lock = threading.Lock()
        invocations: list[dict] = []
        spawned: list[FunctionProcess] = []  # every worker's process, stopped at the end whatever happens
        drained = threading.Event()
        deadline = time.perf_counter() + max(300.0, 3.0 * len(accounts))
        self.proxy.throttle(args.throttle_rate, args.throttle_burst, per_account=True)
        mark = self.proxy.mark()
        cpu0, times0 = self.moto.cpu_s(), os.times()
        dispatcher = self.start_function("contain", env)
        t0 = dispatcher.spawned
        dispatched = dispatcher.stub.queue_event(request)

        def worker(n: int) -> None:
            fn: FunctionProcess | None = None
            try:
                while not drained.is_set() and time.perf_counter() < deadline:
                    received = time.perf_counter()
                    try:
                        got = esm.receive_message(QueueUrl=queues["work"], MaxNumberOfMessages=1, WaitTimeSeconds=1,
                                                  MessageSystemAttributeNames=["All"]).get("Messages", [])
                    except Exception as e:  # the mapping retries its polls
                        log(f"org: worker {n}: receive failed: {e}")
                        time.sleep(0.5)
                        continue
                    if not got:
                        if dispatched.done and self.queue_depth(queues["work"]) == 0:
                            drained.set()
                        continue
                    message = got[0]
                    cold = fn is None or fn.proc.poll() is not None
                    if cold:
                        if fn is not None:
                            fn.stop()
                        if drained.is_set():
                            break
                        fn = self.start_function("contain", env)
                        with lock:
                            spawned.append(fn)
                    started = fn.spawned if cold else time.perf_counter()
                    inv = fn.invoke(sqs_event(message, queues["arn"]), timeout=300)
                    answer = inv.result if isinstance(inv.result, dict) else {}
                    done = inv.ok and answer.get("batchItemFailures") == []
                    deleted = None
                    if done:
                        try:
                            esm.delete_message(QueueUrl=queues["work"], ReceiptHandle=message["ReceiptHandle"])
                            deleted = time.perf_counter()
                        except Exception as e:
                            log(f"org: worker {n}: delete failed: {e}")
                    try:
                        body = json.loads(message["Body"])
                    except ValueError:
                        body = {}
                    with lock:
                        invocations.append({
                            "worker": n, "cold": cold, "received": received - t0, "started": started - t0,
                            "sent": (inv.sent - t0) if inv.sent else None,
                            "answered": (inv.done - t0) if inv.done else None, "deleted": (deleted - t0) if deleted else None,
                            "ok": done, "account": body.get("account_id"),
                            "receive_count": int((message.get("Attributes") or {}).get("ApproximateReceiveCount", "1")),
                            "error": None if done else str(answer)[:300]})
            finally:
                if fn is not None:
                    fn.stop()

        threads = [threading.Thread(target=worker, args=(n,), name=f"esm-{n}", daemon=True) for n in range(concurrency)]
        try:
            for t in threads:
                t.start()
            while not dispatched.done and time.perf_counter() < deadline and dispatcher.proc.poll() is None:
                time.sleep(0.02)
            if not dispatched.done:
                drained.set()  # nothing was dispatched: the workers stop
            for t in threads:
                t.join(max(0.0, deadline - time.perf_counter()) + 310)
            t_end = time.perf_counter()
        finally:
            drained.set()
            dispatcher.stop()
            with lock:
                for fn in spawned:
                    fn.stop()
            self.proxy.throttle(None)
        time.sleep(0.05)
        records = self.proxy.since(mark)
        cpu1, times1 = self.moto.cpu_s(), os.times()
        r = org_wire(records, t0, accounts)
        # Where the machine's CPU went over the run: moto, the bench (proxy, workers), the functions.
        r["cpu_s"] = {"wall": t_end - t0,
                      "moto": (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None,
                      "bench": (times1.user + times1.system) - (times0.user + times0.system),
                      "functions": (times1.children_user + times1.children_system)
                      - (times0.children_user + times0.children_system)}
        invocations.sort(key=lambda i: i["started"])
        for k, i in enumerate(invocations):
            i["k"] = k  # the items started before it
        answer = dispatched.result if isinstance(dispatched.result, dict) else {}
        r.update(responder="tourniquet", concurrency=concurrency, incident_id=incident,
                 dispatch_status=answer.get("status") or answer.get("errorType"),
                 dispatch_answer_s=(dispatched.done - t0) if dispatched.done else None,
                 dispatched_items=sum(1 for t in answer.get("targets", []) if t.get("status") == "dispatched"),
                 invocations=len(invocations), cold_starts=sum(i["cold"] for i in invocations),
                 failed_invocations=sum(not i["ok"] for i in invocations),
                 redeliveries=sum(i["receive_count"] > 1 for i in invocations),
                 queue_left=self.queue_depth(queues["work"]), dead_letters=self.queue_depth(queues["dead"]),
                 ran_s=t_end - t0, invocation_log=sorted(invocations, key=lambda i: i["started"]))
        deletes = [i["deleted"] for i in invocations if i["deleted"] is not None]
        if deletes and r["queue_left"] == 0 and len(deletes) >= len(accounts):
            r["drained_s"] = max(deletes)
        warm = [i["answered"] - i["sent"] for i in invocations if not i["cold"] and i["ok"] and i["sent"] is not None]
        cold = [i["answered"] - i["started"] for i in invocations if i["cold"] and i["ok"] and i["answered"] is not None]
        cycle = [i["deleted"] - i["received"] for i in invocations if not i["cold"] and i["deleted"] is not None]
        r["item_warm_s_median"] = statistics.median(warm) if warm else None
        # The earliest warm items (the second round): a small incident, the emulator not yet busy.
        early = [i for i in invocations if not i["cold"] and i["ok"] and i["sent"] is not None
                 and i["k"] < 2 * concurrency]
        if early:
            r["item_early_s_median"] = statistics.median([i["answered"] - i["sent"] for i in early])
            r["item_early_k_median"] = statistics.median([i["k"] for i in early])
            # S3's times in the same window (before the emulator's queue builds up).
            window = max(i["answered"] for i in early)
            for key, kind in (("report_get_s_early", "S3 GET report.json"), ("s3_list_s_early", "S3 LIST")):
                times = [x.end - x.start for x in records
                         if x.status == 200 and x.start - t0 <= window and org_action(x) == kind]
                if times:
                    r[key] = statistics.median(times)
        # One message handed to two workers at once (their receive-to-delete spans overlap): moto's
        # receive is not atomic under concurrent polls; an SQS FIFO queue would not do it.
        by_account: dict = {}
        for i in invocations:
            by_account.setdefault(i["account"], []).append(i)
        r["concurrent_duplicates"] = sum(
            1 for runs in by_account.values() for a_, b_ in zip(runs, runs[1:])
            if b_["received"] < (a_["deleted"] or a_["answered"] or b_["received"]))
        r["item_cold_s_median"] = statistics.median(cold) if cold else None
        r["item_cycle_s_median"] = statistics.median(cycle) if cycle else None
        # From a warm item's event to its account's revoke policy on the wire.
        cut_offsets = [r["cut_at"][i["account"]] - i["sent"] for i in invocations
                       if i["ok"] and not i["cold"] and i["account"] in r["cut_at"] and i["sent"] is not None]
        r["item_cut_s_median"] = statistics.median(cut_offsets) if cut_offsets else None
        r["evidence_objects_stored"] = self.seeder.evidence_count()
        r.update(self.org_read_back(accounts))
        r["incident"] = self.org_status(env, incident)
        log(f"org (Tourniquet, concurrency {concurrency}): {r['verified_contained']}/{len(accounts)} contained "
            f"(read back), every account {fmt_s(r.get('contain_s'))}, drained {fmt_s(r.get('drained_s'))}, "
            f"{r['invocations']} invocations ({r['cold_starts']} cold), throttled {r['throttled']}, "
            f"dispatch {r['dispatch_status']} in {fmt_s(r['dispatch_answer_s'])}, incident {r['incident'].get('status')}")
        return r

    def org_status(self, env: dict, incident: str) -> dict:
        """The incident's status as `contain` answers it, after the run (not measured)."""
        fn = self.start_function("contain", env)
        try:
            inv = fn.invoke({"incident_id": incident, "status": True}, timeout=120)
        finally:
            fn.stop()
        answer = inv.result if isinstance(inv.result, dict) else {}
        return {"status": answer.get("status") or answer.get("errorType"), "counts": answer.get("counts"),
                "summary": bool(answer.get("summary"))}

    def org_baseline(self, accounts: list[str]) -> dict:
        """A sequential loop of the same calls in boto3, in this process, through the proxy: for
        each account, STS AssumeRole of the member role, then PutRolePolicy of the same
        revoke-older-sessions document (one cutoff, taken at the start). No snapshot, tags or
        evidence: the loop does less per account than Tourniquet's work item."""
        import boto3
        args = self.args
        self.org_prepare(accounts)
        errors: list[str] = []
        self.proxy.throttle(args.throttle_rate, args.throttle_burst, per_account=True)
        mark = self.proxy.mark()
        t0 = time.perf_counter()
        try:
            session = boto3.session.Session()
            kw = dict(endpoint_url=self.proxy.endpoint, region_name="us-east-1")
            sts = session.client("sts", aws_access_key_id=DUMMY_CREDS["AWS_ACCESS_KEY_ID"],
                                 aws_secret_access_key=DUMMY_CREDS["AWS_SECRET_ACCESS_KEY"], **kw)
            now = time.gmtime(time.time() + 1)
            document = revoke_document(time.strftime("%Y-%m-%dT%H:%M:%SZ", now))
            for account in accounts:
                try:
                    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{MEMBER_ROLE}Contain",
                                        RoleSessionName="bench-loop")["Credentials"]
                    iam = session.client("iam", aws_access_key_id=c["AccessKeyId"],
                                         aws_secret_access_key=c["SecretAccessKey"],
                                         aws_session_token=c["SessionToken"], **kw)
                    iam.put_role_policy(RoleName=ORG_ROLE, PolicyName=REVOKE_POLICY, PolicyDocument=document)
                except Exception as e:  # one account's failure does not stop the loop
                    errors.append(f"{account}: {e}"[:200])
            t_done = time.perf_counter()
        finally:
            self.proxy.throttle(None)
        time.sleep(0.05)
        r = org_wire(self.proxy.since(mark), t0, accounts)
        r.update(responder="boto3_loop", concurrency=1, complete_s=t_done - t0, loop_errors=len(errors),
                 loop_error_sample=errors[:3])
        r.update(self.org_read_back(accounts))
        log(f"org (boto3 loop): {r['verified_contained']}/{len(accounts)} contained (read back), every account "
            f"{fmt_s(r.get('contain_s'))}, throttled {r['throttled']}, errors {len(errors)}")
        return r

    # --- the readiness audit at scale -------------------------------------------------------------
    def audit_scale(self, users: int, roles: int) -> dict:
        """The `audit` binary on an account of `users` users and `roles` roles, through the proxy at
        its latency: a cold invocation (no earlier report) and a warm one in the same process (the
        daily run: it reads the first's report), each timed from the event to the answer; the
        process's CPU time and peak RSS; the requests by action. moto answers the authorization
        details in one page and the credential report at once: what that hides is in the section."""
        self.restart_moto(load_managed=True, log_name="moto-audit.log")
        iam = self.seeder.iam
        t = time.perf_counter()
        admin = iam.create_policy(PolicyName="bench-admin", PolicyDocument=ALLOW_ALL)["Policy"]["Arn"]
        iam.update_account_password_policy(MinimumPasswordLength=8)
        cross = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:root"}, "Action": "sts:AssumeRole"}]})

        def user(i: int) -> None:
            name = f"svc-{i:05d}" if i % 10 == 0 else f"u{i:05d}"
            iam.create_user(UserName=name)
            if i % 3 == 0:
                iam.create_login_profile(UserName=name, Password="Correct-Horse-9")
            for _ in range(2 if i % 7 == 0 else 1):
                iam.create_access_key(UserName=name)
            if i % 10 == 1:
                iam.put_user_policy(UserName=name, PolicyName="own", PolicyDocument=allow_doc("s3:GetObject"))
            if i % 50 == 2:
                iam.attach_user_policy(UserName=name, PolicyArn=admin)

        def role(i: int) -> None:
            name = f"r{i:05d}"
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=cross if i % 5 == 0 else EC2_TRUST)
            if i % 4 == 0:
                iam.put_role_policy(RoleName=name, PolicyName="work",
                                    PolicyDocument=allow_doc("iam:CreateRole" if i % 8 == 0 else "s3:*"))

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(user, range(users)))
            list(pool.map(role, range(roles)))
        log(f"seeded {users} users and {roles} roles in {time.perf_counter() - t:.1f} s")
        fn = self.start_function("audit", {"PROTECTED_PRINCIPALS": "arn:aws:iam::*:role/BreakGlass"})
        out: dict = {"users": users, "roles": roles}
        try:
            fn.wait_first_poll()
            for run in ("cold", "warm"):
                mark = self.proxy.mark()
                inv = fn.invoke({"audit": "bench"}, timeout=900)
                time.sleep(0.02)
                records = self.proxy.since(mark)
                body = inv.result if isinstance(inv.result, dict) else {}
                start = fn.spawned if run == "cold" else inv.sent
                out[run] = {
                    "ok": inv.ok and body.get("status") == "audited",
                    "answer_s": (inv.done - start) if inv.done else None,
                    "requests": _count(audit_action(r.action) for r in records),
                    "wire_s": (max(r.end for r in records) - min(r.start for r in records)) if records else None,
                    "counts": body.get("counts"),
                    "imported": body.get("findings_imported"),
                    "resolved": len(body.get("resolved") or []),
                    "warnings": body.get("warnings"),
                    "error": None if inv.ok else str(body)[:300],
                }
            out["cpu_s"] = process_cpu_s(fn.proc.pid)
            out["peak_rss_kb"] = fn.peak_rss_kb()
        finally:
            fn.stop()
        log(f"audit: {users} users, {roles} roles: cold {fmt_s(out['cold'].get('answer_s'))}, warm "
            f"{fmt_s(out['warm'].get('answer_s'))}, cpu {fmt_s(out.get('cpu_s'))}, "
            f"peak RSS {out.get('peak_rss_kb')} kB, failed {(out['cold'].get('counts') or {}).get('failed')}")
        return out

    def cold_starts(self, runs: int) -> dict:
        """Process start to the first Runtime API poll and to the first response, and peak RSS."""
        event = load_event("ec2-state-change.json")  # answered without any AWS call: runtime cost only
        out: dict[str, list] = {}
        for which in FUNCTIONS + ["boto3"]:
            out[which] = []
            for attempt in range(runs + 1):
                fn = self.start_function(which)
                if attempt == 0:  # a warm-up start, not counted: the binary into the page cache
                    fn.wait_first_poll()
                    fn.stop()
                    continue
                try:
                    first_poll = fn.wait_first_poll()
                    inv = fn.stub.queue_event(event)
                    try:
                        fn.stub.finished.get(timeout=30)
                    except Exception:
                        pass
                    time.sleep(0.02)
                    out[which].append({
                        "first_poll_s": first_poll,
                        "first_response_s": (inv.done - fn.spawned) if inv.done else None,
                        "answer": (inv.result or {}).get("status") or (inv.result or {}).get("errorType")
                        if isinstance(inv.result, dict) else None,
                        "peak_rss_kb": fn.peak_rss_kb(),
                    })
                finally:
                    fn.stop()
            log(f"cold start {which}: first poll {fmt_ms(med([r['first_poll_s'] for r in out[which]]))}, "
                f"RSS {med([r['peak_rss_kb'] for r in out[which]])} kB")
        return out


def audit_action(action: str) -> str:
    """The proxy's name for an audit's request, its varying parts named: Security Hub's import (the
    proxy names what is not IAM or STS by its method and path) and the report's keys."""
    if action.endswith("/findings/import"):
        return "BatchImportFindings"
    action = action.replace(f"/{BUCKET}/", "/")
    return re.sub(r"/audits/\d{12}/[^/]+/", "/audits/<account>/<stamp>/", action)


def org_account_ids(n: int) -> list[str]:
    """`n` distinct 12-digit account ids, none of them the bench's own or its member accounts."""
    return [f"{310000000000 + 7919 * (i + 1):012d}" for i in range(n)]


def revoke_document(cutoff: str) -> str:
    """The revoke-older-sessions policy the sequential baseline puts (the same condition as Tourniquet's)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}}}]})


def cutoffs_of(documents: dict) -> set:
    """The distinct `aws:TokenIssueTime` cutoffs of the revoke policies read back."""
    out = set()
    for doc in documents.values():
        for st in (doc or {}).get("Statement", []) if isinstance(doc, dict) else []:
            value = (st.get("Condition") or {}).get("DateLessThan", {}).get("aws:TokenIssueTime")
            if value:
                out.add(value)
    return out


def is_listing(r) -> bool:
    """A ListObjectsV2 of the evidence bucket (a GET of the bucket itself, path-style)."""
    return r.action in (f"S3 GET /{BUCKET}", f"S3 GET /{BUCKET}/")


def org_action(r) -> str:
    """A request's action, S3's by what it reads or writes: a listing, a run's report, the dispatch."""
    if not r.action.startswith("S3 "):
        return r.action
    method = r.action.split(" ")[1]
    if is_listing(r):
        return "S3 LIST"
    for kind in ("report.json", "dispatch.json"):
        if r.action.endswith("/" + kind):
            return f"S3 {method} {kind}"
    return f"S3 {method}"


def org_wire(records, t0: float, accounts: list[str]) -> dict:
    """What the wire shows of an organization-wide revocation: when each account's role got its
    revoke policy (account-aware: every account's role has the same name; the account is the one
    whose credentials signed the request), the throttles, the requests by service and action."""
    cut: dict[str, float] = {}
    for r in records:
        if r.status == 200 and r.account and is_role_cut(r, ORG_ROLE):
            if r.account not in cut or r.end < cut[r.account]:
                cut[r.account] = r.end
    wanted = set(accounts)
    times = sorted(cut[a] - t0 for a in cut if a in wanted)
    by_service: dict[str, int] = {}
    throttled: dict[str, int] = {}
    actions: dict[str, int] = {}
    for r in records:
        by_service[r.service] = by_service.get(r.service, 0) + 1
        if r.throttled:
            throttled[r.service] = throttled.get(r.service, 0) + 1
        actions[org_action(r)] = actions.get(org_action(r), 0) + 1
    errors: dict[str, int] = {}
    for r in records:
        if r.status >= 300 and not r.throttled and r.status != 404:
            # An evidence key without its incident, run and stamp: one entry per kind of object.
            action = re.sub(r"\d{8}T\d{6}(\.\d+)?Z[^/]*", "<run>", re.sub(r"/incidents/[^/]+/", "/incidents/<id>/", r.action))
            errors[f"{action} {r.status}"] = errors.get(f"{action} {r.status}", 0) + 1
    out = {"accounts": len(accounts), "contained_on_wire": len(times), "requests": len(records),
           "requests_by_service": by_service, "requests_by_action": actions, "throttled": throttled,
           "throttled_total": sum(throttled.values()), "errors": errors,
           "max_in_flight": proxymod.max_in_flight(records), "contained_times_s": times,
           "cut_at": {a: t - t0 for a, t in cut.items()}}
    if times:
        out["first_contained_s"], out["median_contained_s"] = times[0], statistics.median(times)
    if len(times) == len(accounts):
        out["contain_s"] = times[-1]
    lists = [r.end - r.start for r in records if is_listing(r) and r.status == 200]
    if lists:
        out["s3_list_s_median"] = statistics.median(lists)
    reads = [r.end - r.start for r in records if org_action(r) == "S3 GET report.json" and r.status == 200]
    if reads:
        out["report_get_s_median"] = statistics.median(reads)
        # A read when the emulator is not queueing: the 10th percentile.
        out["report_get_s_p10"] = sorted(reads)[len(reads) // 10]
    if lists:
        out["s3_list_s_p10"] = sorted(lists)[len(lists) // 10]
    if records:
        span = max(r.end for r in records) - min(r.start for r in records)
        # What the emulator served: on 2 cores, the ceiling of every figure here.
        out["requests_per_s"] = len(records) / span if span > 0 else None
    batches = [r for r in records if r.action == "SendMessageBatch"]
    if batches:
        out["send_batches"] = len(batches)
        out["send_batch_s_median"] = statistics.median([r.end - r.start for r in batches])
        out["dispatch_sent_s"] = max(r.end for r in batches) - t0
    dispatch = [r.size for r in records if r.action.startswith("S3 PUT") and r.action.endswith("/dispatch.json")]
    if dispatch:
        out["dispatch_bytes"] = dispatch[0]
    return out


def sqs_event(message: dict, queue_arn: str) -> dict:
    """The event Lambda's SQS event source mapping builds from one message (BatchSize 1)."""
    attributes = message.get("Attributes") or {}
    system = {
        "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
        "SentTimestamp": attributes.get("SentTimestamp", "0"),
        "SenderId": attributes.get("SenderId", "AROAEXAMPLE:contain"),
        "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0"),
    }
    # A FIFO queue's message also carries its group, deduplication id and sequence number.
    system.update({k: attributes[k] for k in ("MessageGroupId", "MessageDeduplicationId", "SequenceNumber")
                   if k in attributes})
    return {"Records": [{
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": system,
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }]}


def custodian_policy(kind: str, names: list[str], incident: str, account: str = ACCOUNT) -> dict:
    """What Cloud Custodian can do of the playbook: keys disabled, a managed deny attached, a tag."""
    key = "UserName" if kind == "user" else "RoleName"
    flt = {"type": "value", "key": key, "value": names[0]} if len(names) == 1 else \
        {"type": "value", "key": key, "op": "in", "value": names}
    actions = [{"type": "set-policy", "state": "attached", "arn": f"arn:aws:iam::{account}:policy/{DENY_POLICY_NAME}"},
               {"type": "tag", "key": "tourniquet:incident", "value": incident}]
    if kind == "user":
        actions.insert(0, {"type": "remove-keys", "disable": True})
    return {"policies": [{"name": f"bench-contain-{kind}", "resource": f"iam-{kind}",
                          "filters": [flt], "actions": actions}]}


def _count(items) -> dict:
    out: dict = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_s(v):
    return "-" if v is None else f"{v:.2f}s"


def fmt_ms(v):
    return "-" if v is None else f"{v * 1000:.1f}ms"


# --- sizes -----------------------------------------------------------------------------------------

def sizes(args) -> dict:
    """Each function's arm64 Lambda package, built with cargo-lambda; the host's stripped release
    binaries, zipped, when the cross-build cannot run here."""
    out: dict = {"functions": {}}
    cargo_lambda = Path(sys.executable).parent / "cargo-lambda"
    lambda_dir = OUT / "lambda"
    if args.skip_arm64:
        out["arm64_error"] = "skipped (--skip-arm64)"
    elif not cargo_lambda.exists():
        out["arm64_error"] = f"{cargo_lambda} not installed"
    else:
        shutil.rmtree(lambda_dir, ignore_errors=True)
        # Every binary of the workspace's default members (the functions, and verify-evidence).
        cmd = [str(cargo_lambda), "lambda", "build", "--release", "--arm64", "--output-format", "zip",
               "--lambda-dir", str(lambda_dir)]
        t = time.perf_counter()
        env = dict(os.environ, PATH=f"{cargo_lambda.parent}:{os.environ.get('PATH', '')}")
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.arm64_timeout,
                                  stdin=subprocess.DEVNULL)
            out["arm64_build_s"] = time.perf_counter() - t
            if proc.returncode != 0:
                tail = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()][-6:]
                out["arm64_error"] = " / ".join(tail)[-700:]
        except subprocess.TimeoutExpired:
            out["arm64_error"] = f"timed out after {args.arm64_timeout} s"
        (LOGS / "cargo-lambda.cmd").write_text(" ".join(cmd) + "\n")
    for f in FUNCTIONS:
        entry: dict = {}
        zipped = lambda_dir / f / "bootstrap.zip"
        if "arm64_error" not in out and zipped.exists():
            with zipfile.ZipFile(zipped) as z:
                entry["arm64_bootstrap"] = sum(i.file_size for i in z.infolist())
            entry["arm64_zip"] = zipped.stat().st_size
        binary = ROOT / "target/release" / f
        if binary.exists():
            entry["host_binary"] = binary.stat().st_size
            target = OUT / "zip" / f"{f}.zip"
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
                info = zipfile.ZipInfo("bootstrap")
                info.external_attr = 0o755 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, binary.read_bytes(), compresslevel=9)
            entry["host_zip"] = target.stat().st_size
        out["functions"][f] = entry
    return out


# --- the machine -----------------------------------------------------------------------------------

def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":")[1].strip()
    except OSError:
        pass

    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    import boto3
    import botocore
    try:
        from importlib.metadata import version as pkg_version
        c7n = pkg_version("c7n")
    except Exception:
        c7n = "?"
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory": mem, "kernel": platform.release(),
            "rustc": version(["rustc", "--version"]), "python": platform.python_version(),
            "boto3": boto3.__version__, "botocore": botocore.__version__, "c7n": c7n,
            "moto": version([str(ROOT / ".venv/bin/python"), "-c", "import moto; print(moto.__version__)"])}


# --- main ------------------------------------------------------------------------------------------

def source() -> dict:
    """The commit the figures are of, and whether the tree had changes not in it."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout
        except OSError:
            return ""
    changed = [line[3:] for line in git("status", "--porcelain").splitlines()
               if not line[3:].startswith(("BENCHMARKS.md", "bench/out"))]
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or None, "changed": changed}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="runs per responder for the user and the role (default 5)")
    ap.add_argument("--latency-ms", type=float, default=60.0, help="latency added to every request (default 60)")
    ap.add_argument("--many", type=int, default=100, help="principals in the many-principal event (default 100)")
    ap.add_argument("--many-runs", type=int, default=5,
                    help="runs of the many-principal event per responder (default 5)")
    ap.add_argument("--sweep-rates", default="10,25,100",
                    help="the throttle sweep's other rates, requests/s, besides --throttle-rate (default 10,25,100)")
    ap.add_argument("--sweep-many", type=int, default=10,
                    help="users in the throttle sweep's event (default 10; its bucket holds one second)")
    ap.add_argument("--throttle-rate", type=float, default=50.0,
                    help="IAM (and STS) requests a second above which the proxy throttles, many-principal run (default 50)")
    ap.add_argument("--throttle-burst", type=float, default=50.0, help="token bucket size (default 50)")
    ap.add_argument("--baseline-many-cap", type=float, default=20.0,
                    help="seconds the boto3 responder may spend on the many-principal event (Custodian runs to "
                         "its end); 0 skips both baselines (default 20)")
    ap.add_argument("--gap-runs", type=int, default=3,
                    help="runs that add a warm user invocation with moto's HTTP 500 gap left open (default 3)")
    ap.add_argument("--cold-runs", type=int, default=5, help="cold starts per function binary (default 5)")
    ap.add_argument("--health-keys", type=int, default=20,
                    help="keys in the Health event, two of them one user's (default 20)")
    ap.add_argument("--mixed", type=int, default=100, help="users and roles, half each, in one event (default 100)")
    ap.add_argument("--thousand", type=int, default=1000,
                    help="principals in the one labelled run that outgrows the 300 s timeout (default 1000)")
    ap.add_argument("--separate", type=int, default=20,
                    help="separate findings arriving at once, each its own invocation (default 20)")
    ap.add_argument("--org-accounts", type=int, default=None,
                    help="accounts of the organization-wide role revocation (default 300; --quick: 20)")
    ap.add_argument("--org-concurrency", default="10,50",
                    help="the emulated event source mapping's concurrencies, comma-separated (default 10,50)")
    ap.add_argument("--org-queue", choices=("fifo", "standard"), default="fifo",
                    help="the work queue's type (default fifo, as template.yaml's WorkQueue)")
    ap.add_argument("--audit-users", type=int, default=None, help="users of the audited account (default 1000; --quick: 100)")
    ap.add_argument("--audit-roles", type=int, default=None, help="roles of the audited account (default 500; --quick: 50)")
    ap.add_argument("--skip-build", action="store_true", help="use target/release as it is")
    ap.add_argument("--skip-arm64", action="store_true", help="do not try the cargo-lambda arm64 build")
    ap.add_argument("--arm64-timeout", type=float, default=2400.0,
                    help="seconds the arm64 cross-build may take (a cold one takes as long as the release build)")
    ap.add_argument("--quick", action="store_true",
                    help="for iteration: 2 runs, 20 principals, a 10-user sweep at 25/s, 2 cold starts, no builds")
    ap.add_argument("--phases", default=ALL_PHASES,
                    help="the phases to run, comma-separated (a partial run is for checking, not for BENCHMARKS.md)")
    ap.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    args.org_concurrency = [int(x) for x in str(args.org_concurrency).split(",") if x.strip()]
    if args.org_accounts is None:
        args.org_accounts = 20 if args.quick else 300
    if args.audit_users is None:
        args.audit_users = 100 if args.quick else 1000
    if args.audit_roles is None:
        args.audit_roles = 50 if args.quick else 500
    if args.quick:
        args.runs, args.many, args.many_runs, args.cold_runs, args.baseline_many_cap = 2, 20, 2, 2, 20.0
        args.gap_runs, args.sweep_rates, args.sweep_many = 1, "25", 5
        args.health_keys, args.mixed, args.separate, args.thousand = 6, 6, 4, 60
        args.skip_arm64 = True

    started = time.perf_counter()
    LOGS.mkdir(parents=True, exist_ok=True)
    for stale in LOGS.glob("*.log"):
        stale.unlink()
    results: dict = {"args": vars(args), "machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    memory = re.search(r"^\s+MemorySize:\s*(\d+)", (ROOT / "template.yaml").read_text(), re.M)
    results["memory_mb"] = int(memory.group(1)) if memory else None
    results["source"] = source()

    if not args.skip_build:
        log("cargo build --release --bins")
        t = time.perf_counter()
        subprocess.run(["cargo", "build", "--release", "--bins"], cwd=ROOT, check=True)
        results["build_s"] = time.perf_counter() - t
    missing = [f for f in FUNCTIONS if not (ROOT / "target/release" / f).exists()]
    if missing:
        sys.exit(f"missing release binaries: {missing}")

    bench = Bench(args)
    interrupted = False

    def stop(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    try:
        baselines = ["boto3", "custodian"] if args.baseline_many_cap > 0 else []
        many = ["tourniquet", "tourniquet_told"] + baselines
        sweep_rates = [float(x) for x in args.sweep_rates.split(",") if x.strip()]

        def sweep():
            # The many-principal event at each rate, Tourniquet and Custodian side by side.
            return {f"{rate:g}": bench.many(args.sweep_many, args.many_runs, rate,
                                            ["tourniquet", "custodian"] if baselines else ["tourniquet"], rate,
                                            stop_when_contained=("tourniquet",))
                    for rate in sorted(set(sweep_rates + [args.throttle_rate]))}
        phases = [("user", lambda: bench.single("user", args.runs)),
                  ("role", lambda: bench.single("role", args.runs)),
                  ("many", lambda: bench.many(args.many, args.many_runs, args.throttle_rate, many,
                                              args.throttle_burst, stop_when_contained=("tourniquet_told",))),
                  ("sweep", sweep),
                  ("incidents", lambda: bench.incidents(args.many_runs)),
                  ("shapes", lambda: bench.shapes(args.many_runs)),
                  ("thousand", lambda: bench.thousand(args.thousand) if args.thousand else None),
                  ("cold", lambda: bench.cold_starts(args.cold_runs)),
                  ("org", lambda: bench.org(args.org_accounts) if args.org_accounts else None),
                  ("audit", lambda: bench.audit_scale(args.audit_users, args.audit_roles))]
        chosen = set(args.phases.split(","))
        for name, phase in phases:
            if name not in chosen:
                continue
            t = time.perf_counter()
            log(f"phase {name}")
            results[name] = phase()
            results.setdefault("phase_s", {})[name] = time.perf_counter() - t
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bench.close()
    if interrupted:
        log("interrupted; BENCHMARKS.md left as it was")
        return 130
    t = time.perf_counter()
    log("sizes (cargo lambda build --release --arm64 --output-format zip)")
    results["sizes"] = sizes(args)
    results.setdefault("phase_s", {})["sizes"] = time.perf_counter() - t
    results["total_s"] = time.perf_counter() - started
    # A partial run (--phases) is a check: it never replaces the full run's results or BENCHMARKS.md.
    partial = set(args.phases.split(",")) != set(ALL_PHASES.split(","))
    results_path = OUT / ("results-partial.json" if partial else "results.json")
    output = Path(args.output)
    if partial and output == ROOT / "BENCHMARKS.md":
        output = OUT / "partial.md"
    results_path.write_text(json.dumps(results, indent=1, default=str))
    text, failures = reportmod.render(results)
    output.write_text(text)
    log(f"wrote {output} and {results_path.relative_to(ROOT)} in {results['total_s']:.0f} s")
    for f in failures:
        log(f"FAILED: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
