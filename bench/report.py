"""Renders bench/out/results.json as BENCHMARKS.md. `render(results) -> (markdown, failures)`.

Run alone (`python bench/report.py`) it re-renders BENCHMARKS.md from the last results.json.
"""

from __future__ import annotations

import heapq
import json
import math
import statistics
import sys
from pathlib import Path

MB = 1024 * 1024


def vals(runs, key):
    return [r[key] for r in runs if r.get(key) is not None]


def med(runs, key):
    v = vals(runs, key)
    return statistics.median(v) if v else None


def spread(runs, key, unit="s"):
    """'median [min–max]' of a key over runs."""
    v = vals(runs, key)
    if not v:
        return "—"
    f = {"s": lambda x: f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s",
         "ms": lambda x: f"{x * 1000:.1f} ms",
         "n": lambda x: f"{x:g}",
         "x": lambda x: f"{x:.2f}×",
         "mb": lambda x: f"{x / 1024:.1f} MiB"}[unit]
    m = statistics.median(v)
    if len(v) == 1 or min(v) == max(v):
        return f(m)
    return f"{f(m)} [{f(min(v))}–{f(max(v))}]"


def secs(x):
    if x is None:
        return "—"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def mb(n):
    return "—" if n is None else f"{n / MB:.2f} MiB"


def verified(runs, key="verified"):
    ok = sum(1 for r in runs if r.get(key))
    return f"{ok}/{len(runs)}"


LABELS = {
    "tourniquet_cold": "**Tourniquet** `contain`, cold: from process start",
    "boto3_cold": "boto3 responder (writes first), cold: from process start",
    "boto3sf_cold": "*boto3 responder, snapshot first (the old order)*, cold: from process start",
    "custodian": "Cloud Custodian (`custodian run`), cold: from process start",
    "tourniquet_warm": "**Tourniquet** `contain`, warm: from the event",
    "boto3_warm": "boto3 responder (writes first), warm: from the event",
    "boto3sf_warm": "*boto3 responder, snapshot first*, warm: from the event",
    "custodian_first": "Cloud Custodian, warm lower bound: from its first AWS request",
}


def with_custodian_first(data: dict) -> dict:
    """The scenario's runs, plus Custodian's counted from its first AWS request: the warm figure it
    has no process for, a lower bound (its imports and policy validation left out, nothing else)."""
    out = dict(data)
    out["custodian_first"] = [dict(r, contain_s=r.get("contain_from_first_s"),
                                   complete_s=(r["complete_s"] - r["first_request_s"])
                                   if r.get("complete_s") is not None and r.get("first_request_s") is not None
                                   else None)
                              for r in data.get("custodian", [])]
    return out


def ratios(base: list, other: list, key="contain_s") -> list:
    """other/base per run pair (run i of each, as the rotation ran them)."""
    return [{"x": o[key] / b[key]} for b, o in zip(base, other) if b.get(key) and o.get(key)]


def ratio_spread(base: list, other: list, key="contain_s") -> str:
    """The median of the per-run ratios, [min–max]."""
    v = [r["x"] for r in ratios(base, other, key)]
    if not v:
        return "—"
    m = statistics.median(v)
    return f"{m:.2f}×" if len(v) == 1 else f"{m:.2f}× [{min(v):.2f}–{max(v):.2f}]"


def single_table(data: dict) -> list[str]:
    data = with_custodian_first(data)
    rows = ["| responder | time to contain | …from its first AWS request | time to complete | waves (measured) "
            "| wave the containment completed in | requests | most in flight | waves in the report | contained (read back) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for key, label in LABELS.items():
        runs = data.get(key, [])
        if not runs:
            continue
        rows.append(f"| {label} | {spread(runs, 'contain_s')} | {spread(runs, 'contain_from_first_s')} | "
                    f"{spread(runs, 'complete_s')} | {spread(runs, 'waves', 'n')} | {spread(runs, 'contain_wave', 'n')} | "
                    f"{spread(runs, 'requests', 'n')} | {spread(runs, 'max_in_flight', 'n')} | "
                    f"{spread(runs, 'report_waves', 'n')} | {verified(runs)} |")
    return rows


def wave_lines(run: dict) -> list[str]:
    out = []
    for i, wave in enumerate(run.get("by_wave", []), 1):
        parts = ", ".join(f"{a}×{n}" if n > 1 else a for a, n in sorted(wave.items()))
        out.append(f"{i}. {parts}")
    return out


def ratio(a, b):
    return None if not a or not b else b / a


def render(res: dict) -> tuple[str, list[str]]:
    a = res["args"]
    m = res["machine"]
    user, role, many, cold, sizes = (res.get(k, {}) for k in ("user", "role", "many", "cold", "sizes"))
    failures: list[str] = []
    for scenario, data in (("user", user), ("role", role)):
        for key, runs in data.items():
            for r in runs:
                if not r.get("verified"):
                    failures.append(f"{scenario}/{key}: a run did not contain the principal ({r.get('status')}, "
                                    f"{r.get('error', '')})")
    for r in many.get("tourniquet", []):
        if not r.get("answered"):
            failures.append("many/tourniquet: no answer")
    for run in ("cold", "warm"):
        x = (res.get("audit") or {}).get(run)
        if x is not None and not x.get("ok"):
            failures.append(f"audit/{run}: {x.get('error')}")
    org = res.get("org") or {}
    for c, r in (org.get("tourniquet") or {}).items():
        if r.get("verified_contained") != org.get("accounts"):
            failures.append(f"org/tourniquet at concurrency {c}: {r.get('verified_contained')} of "
                            f"{org.get('accounts')} accounts contained (read back)")
    for phase in ("incidents", "shapes"):
        for scenario, data in (res.get(phase) or {}).items():
            for r in data.get("tourniquet", []):
                expected = r.get("expected", 1)
                if r.get("verified_contained") != expected:
                    failures.append(f"{phase}/{scenario}: Tourniquet contained {r.get('verified_contained')} of "
                                    f"{expected}")

    L: list[str] = []
    w = L.append
    w("# Benchmarks")
    w("")
    builds0 = (res.get("build_s") or 0) + (sizes.get("arm64_build_s") or 0)
    src = res.get("source") or {}
    tree = ("" if not src.get("commit") else f" on commit {src['commit']}" +
            (f" with uncommitted changes to {', '.join(src['changed'])}" if src.get("changed") else ""))
    w("Generated by `make bench` (`bench/run.py`); every figure below was measured in the run of "
      f"{res.get('started', '?')}{tree}, which took {res.get('total_s', 0):.0f} s ({builds0:.0f} s of it the two "
      "release builds, host and arm64). Rerun `make bench` to regenerate this file; the raw figures are in "
      "`bench/out/results.json`. Sizes are in MiB (2^20 bytes).")
    w("")
    w("## Machine")
    w("")
    w(f"- {m.get('nproc')} cores: {m.get('cpu')}; {m.get('memory')} memory; Linux {m.get('kernel')}")
    w(f"- {m.get('rustc')}; Python {m.get('python')}; moto {m.get('moto')}; boto3 {m.get('boto3')} "
      f"(botocore {m.get('botocore')}); Cloud Custodian (c7n) {m.get('c7n')}")
    w("")
    w("## How it is measured")
    w("")
    w("- **The account** is moto server (`MOTO_IAM_LOAD_MANAGED_POLICIES=true`, account 111122223333) on a free "
      "`127.0.0.1` port. Before every run the account is reset (`/moto-api/reset`) and seeded afresh with new "
      "names, so every run is a first containment and no responder sees another's leftovers; seeding goes "
      "straight to moto and is not measured.")
    w(f"- **The proxy** (`bench/proxy.py`) sits between every responder and moto and adds "
      f"**{a['latency_ms']:g} ms** to every request (about a cross-region IAM call). It records each request's "
      "start, end, action (the `Action=` of an IAM/STS POST, the method and path of an S3 request) and status. "
      "**Waves** are the longest chain of requests each of which started after the previous one ended (the "
      "critical path), computed from those records; *most in flight* is the peak of concurrent requests. "
      "For the many-principal event it also throttles IAM and STS with a token bucket each "
      f"({a['throttle_rate']:g} requests/s, burst {a['throttle_burst']:g}) and answers over the limit as IAM does: "
      "HTTP 400 `Throttling` / `Rate exceeded`. AWS does not publish IAM's rates and they cannot be raised; the "
      "rate is a flag (`--throttle-rate`).")
    w("- **Start lines.** *Cold*: from the process's start, for every responder: Tourniquet's binary and the "
      "boto3 responder are spawned with their first event already queued at the Runtime API, so their runtime "
      "init, Python's start and imports, and the first poll are counted, as Cloud Custodian's process start, "
      "imports and policy validation are. *Warm*: from the next event handed to the same, started process; "
      "Custodian has no warm process (each `custodian run` is one), so its warm figure is counted from its "
      "first AWS request, a lower bound (only its start is left out).")
    w("- **Time to contain**: from the start line to the end of the last request that contains: for a user the deny "
      "(`PutUserPolicy TourniquetDenyAll`, or Custodian's `AttachUserPolicy` of a managed deny) and the "
      "deactivation of every key (`UpdateAccessKey Status=Inactive`); for a role the first policy that cuts its "
      "stolen sessions off (`PutRolePolicy TourniquetRevokeOlderSessions`, or Custodian's attached deny). Only "
      "successful (200) requests count. **Time to complete**: until the response reached the Runtime API (for "
      "Custodian, its exit); the evidence is written before it. *Contained (read back)*: keys and deny checked "
      "on moto afterwards.")
    w("- **Tourniquet** is its real release binary (`target/release/contain`) under a minimal Lambda Runtime "
      "API (`bench/runtime_stub.py`); each run starts a fresh process and invokes it twice with two "
      "different principals: the first invocation is the cold one (it adds `sts:GetCallerIdentity`, cached "
      "afterwards), the second warm. Both boto3 responders run the same way under the same stub. Events: "
      "`events/guardduty-iam-user.json` naming the seeded user and its first key, "
      "`events/guardduty-assumed-role.json` naming the seeded role, and, for many principals, a **synthetic** "
      f"Security Hub custom action (`events/securityhub-custom-action.json`) with {a['many']} findings, one "
      "`AwsIamUser` each: larger than the small batch Security Hub sends in one custom-action event, it stands "
      "for the same work reaching one invocation by other routes (a Health event naming many keys, a fan-out "
      "batch, a hunt's follow-on targets).")
    w(f"- Runs: {a['runs']} per responder for the user and for the role; {a['many_runs']} per responder for "
      f"the many-principal event, for each rate of the sweep and for each incident; the responders' order rotated run by run "
      "everywhere. Where only the time to contain is reported (the throttle sweep, Tourniquet told the rate, "
      "users and roles), Tourniquet's process is left once every principal is contained on the wire, its "
      "snapshot's remaining reads not waited for. "
      f"The boto3 responder is capped at {a['baseline_many_cap']:g} s on the many-principal event "
      f"(it would take minutes); Custodian runs to its end. {a['cold_runs']} cold starts per binary. Figures "
      "are *median [min–max]*; ratios are the median of the per-run ratios.")
    w("- **Seeds**: the user has two active keys (IAM's limit), two inline and two managed policies of its own, "
      "three groups each with an inline and a managed policy, a console password, an MFA device and two tags. "
      "The role: an EC2 trust policy, an inline and a managed policy, an instance profile, a tag. Each of the "
      f"{a['many']} users of the many-principal event: two keys, an inline and a managed policy, one group "
      "with an inline and a managed policy.")
    w("")

    w("## Results")
    w("")
    w("### One IAM user (GuardDuty finding)")
    w("")
    L.extend(single_table(user))
    w("")
    w("### One IAM role (GuardDuty `AssumedRole` finding)")
    w("")
    L.extend(single_table(role))
    w("")
    w("### How much faster, run by run")
    w("")
    w("Each ratio is the baseline's time to contain over Tourniquet's in the same run (the responders of a run "
      "go one after another, the order rotated run by run); the median of those ratios, [min–max]. Cold against "
      "cold, both from process start; warm against warm, Custodian's warm figure a lower bound.")
    w("")
    w("| principal | start line | boto3 (writes first) | boto3 (snapshot first) | Cloud Custodian |")
    w("|---|---|---|---|---|")
    for kind, data in (("user", with_custodian_first(user)), ("role", with_custodian_first(role))):
        for mode, own, c7 in (("cold: from process start", "tourniquet_cold", "custodian"),
                              ("warm: from the event (Custodian: from its first request)", "tourniquet_warm",
                               "custodian_first")):
            suffix = own.split("_")[1]
            w(f"| {kind} | {mode} | {ratio_spread(data.get(own, []), data.get('boto3_' + suffix, []))} | "
              f"{ratio_spread(data.get(own, []), data.get('boto3sf_' + suffix, []))} | "
              f"{ratio_spread(data.get(own, []), data.get(c7, []))} |")
    w("")
    if user.get("tourniquet_gap") or user.get("boto3_gap"):
        w("### One IAM user, one snapshot read failing with HTTP 500")
        w("")
        w("moto 5.2.5 does not implement `ListServiceSpecificCredentials` and answers it with HTTP 500. In the "
          "runs above the proxy answers it itself, with the empty list real IAM gives a user without such "
          "credentials (`filled`, counted in `results.json`). In these runs, a warm invocation each, it is left "
          "failing: one snapshot read with a server error, as a throttled or failing IAM read would be.")
        w("")
        w("| responder | deny and named key in place | other key deactivated (time to contain) | time to complete "
          "| waves (measured) | contained (read back) |")
        w("|---|---|---|---|---|---|")
        for key, label in (("tourniquet_gap", "**Tourniquet** `contain`, warm"), ("boto3_gap", "boto3 responder, warm")):
            runs = user.get(key, [])
            if runs:
                first = [{"t": max(r["requirement_s"][:2])} for r in runs if r.get("requirement_s")]
                w(f"| {label} | {spread(first, 't')} | {spread(runs, 'contain_s')} | {spread(runs, 'complete_s')} | "
                  f"{spread(runs, 'waves', 'n')} | {verified(runs)} |")
        w("")
        gap = user.get("tourniquet_gap", [])
        other = [{"n": r["requirement_iam_waves"][2]} for r in gap if len(r.get("requirement_iam_waves") or []) > 2]
        w(f"Tourniquet deactivates the other key the moment `ListAccessKeys` answers (IAM wave "
          f"{spread(other, 'n', 'n')} in these runs), whatever the failing read does; the SDK retries that read "
          "in its standard mode, and the snapshot records the error.")
        w("")
    for title, data in (("the user, cold", user.get("tourniquet_cold")), ("the user, warm", user.get("tourniquet_warm")),
                        ("the role, warm", role.get("tourniquet_warm"))):
        if data:
            w(f"Tourniquet's waves for {title} (first run, as the proxy saw them):")
            w("")
            L.extend(wave_lines(data[0]))
            w("")
    if user.get("boto3_warm"):
        r = user["boto3_warm"][0]
        w(f"The boto3 responder's {r['waves']} waves for the user are one request each: "
          f"{r['requests']} requests, never more than {r['max_in_flight']} in flight.")
        w("")

    w(f"### {a['many']} principals in one synthetic event, throttled at {a['throttle_rate']:g} IAM requests/s")
    w("")
    w("| responder | principals contained | time to contain all | its floor | first / median principal contained | "
      "time to complete | throttled requests | failures | waves | most in flight | requests | peak RSS |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, label in (("tourniquet", "**Tourniquet** `contain`, its default pace"),
                       ("tourniquet_told", f"**Tourniquet** told the rate (`IAM_REQUESTS_PER_SECOND={a['throttle_rate']:g}`)"),
                       ("boto3", "boto3 responder"),
                       ("custodian", "Cloud Custodian")):
        runs = many.get(key, [])
        if not runs:
            continue
        capped = any(not r.get("answered") and not r.get("stopped_when_contained") for r in runs)
        contained = spread(runs, "principals_contained", "n") + f" of {a['many']}"
        if capped:
            contained += f" in the {a['baseline_many_cap']:g} s cap"
        if key.startswith("tourniquet"):
            fail_txt = (f"{spread([{'n': a['many'] - r.get('principals_contained', 0)} for r in runs], 'n', 'n')} "
                        f"principals not contained; {spread(runs, 'failed_steps', 'n')} failed steps")
            actions: dict = {}
            for r in runs:
                for k, n in (r.get("failed_actions") or {}).items():
                    actions[k] = actions.get(k, 0) + n
            if actions:
                fail_txt += " (all runs: " + ", ".join(f"`{k}` ×{n}" for k, n in sorted(actions.items())) + ")"
        else:
            fail_txt = f"{a['many'] - min(r.get('verified_contained', 0) for r in runs)} not contained"
            if capped:
                fail_txt += " when stopped"
        all_in = spread(runs, "contain_s")
        if all_in == "—":
            all_in = "— (not all contained)"
        if capped:
            r = runs[0]
            n = r.get("principals_contained") or 0
            if n:
                all_in = f"— (at that pace all {a['many']} would take ≈ {r['complete_s'] / n * a['many']:.0f} s)"
        complete = spread(runs, "complete_s") if not capped else f"> {a['baseline_many_cap']:g} s (stopped)"
        if all(r.get("stopped_when_contained") for r in runs):
            complete = "— (left once contained)"
        w(f"| {label} | {contained} | {all_in} | {spread(runs, 'floor_s')} | "
          f"{secs(med(runs, 'first_contained_s'))} / {secs(med(runs, 'median_contained_s'))} | {complete} | "
          f"{spread(runs, 'throttled', 'n')} | {fail_txt} | {spread(runs, 'waves', 'n')} | "
          f"{spread(runs, 'max_in_flight', 'n')} | {spread(runs, 'requests', 'n')} | "
          f"{spread(runs, 'peak_rss_kb', 'mb') if key != 'custodian' else '—'} |")
    w("")
    w("*Its floor* is the time the requests that contain need at the throttle rate: the successful IAM "
      "writes that contain (deny, session cutoff, keys, any fallback route) and the reads they wait on "
      "(`ListAccessKeys`), counted on the wire for that run, less the bucket's initial burst (it starts "
      "full), over the rate. Tags and the snapshot's reads are not counted.")
    w("")
    rw_many = [r.get("report_waves") for r in many.get("tourniquet", [])]
    if any(rw_many):
        w(f"The function's report says `waves: {fmtn(statistics.median([x for x in rw_many if x]))}` for this "
          f"event (the longest chain of dependent round trips of any principal); the wire shows "
          f"{spread(many.get('tourniquet', []), 'waves', 'n')}, because the bucket spreads the event's requests "
          "over time: a request waits for its turn, not for an answer.")
        w("")
    agree = all(r.get("principals_contained") == r.get("verified_contained")
                for runs in many.values() for r in runs)
    w("*Principals contained* is what the proxy saw succeed (the deny and both keys of a user); "
      + ("it agrees with what was read back from moto afterwards. " if agree else
         "read back from moto afterwards it differs (see `verified_contained` in `results.json`). ")
      + "A baseline stopped at the cap is projected linearly.")
    w("")
    mt_runs = many.get("tourniquet", [])
    if many.get("custodian"):
        w(f"Cloud Custodian over Tourniquet, run by run: {ratio_spread(mt_runs, many['custodian'])} at its "
          f"default pace, {ratio_spread(many.get('tourniquet_told', []), many['custodian'])} told the rate; "
          f"counted from each one's first AWS request: "
          f"{ratio_spread(mt_runs, many['custodian'], 'contain_from_first_s')}.")
        w("")
    sweep = res.get("sweep") or {}
    if sweep:
        n = a.get("sweep_many")
        w(f"### The throttle sweep: {n} users in one synthetic event, at each rate")
        w("")
        w("IAM's real rate is not published and differs by account and operation, so the same event is contained "
          "at several rates, each with a bucket of one second's requests. *Floor*: the requests that contain, "
          "counted on the wire, less that burst, over the rate. Tourniquet runs at its default pace (40 "
          "requests/s, halved at each throttle and recovering over 10 s), as a deployment that was not told its "
          "account's rate would.")
        w("")
        w("| IAM requests/s | Tourniquet: time to contain | its floor | over the floor | Cloud Custodian: time to "
          "contain | its floor | Custodian over Tourniquet (run by run) | contained (read back), Tourniquet / Custodian |")
        w("|---|---|---|---|---|---|---|---|")
        for rate in sorted(sweep, key=float):
            t, c = sweep[rate].get("tourniquet", []), sweep[rate].get("custodian", [])
            over = [{"x": r["contain_s"] / r["floor_s"]} for r in t if r.get("contain_s") and r.get("floor_s")]
            w(f"| {rate} | {spread(t, 'contain_s')} | {spread(t, 'floor_s')} | "
              f"{spread(over, 'x', 'x')} | {spread(c, 'contain_s')} | {spread(c, 'floor_s')} | "
              f"{ratio_spread(t, c)} | "
              f"{spread([{'n': r.get('verified_contained')} for r in t], 'n', 'n')} / "
              f"{spread([{'n': r.get('verified_contained')} for r in c], 'n', 'n')} of {n} |")
        w("")
    incidents = res.get("incidents") or {}
    if incidents:
        w(f"### Incidents as they arrive, throttled at {a['throttle_rate']:g} IAM requests/s")
        w("")
        w(f"- **Health**: one AWS Health `AWS_RISK_CREDENTIALS_EXPOSED` event naming {a.get('health_keys')} keys, "
          f"two of them one user's ({a.get('health_keys', 1) - 1} users): each key's owner is looked up, the user "
          "named twice is contained once.")
        w(f"- **Users and roles**: a synthetic Security Hub custom action naming {a.get('mixed', 0) // 2} users and "
          f"{a.get('mixed', 0) - a.get('mixed', 0) // 2} roles (Custodian: an `iam-user` and an `iam-role` policy in "
          "one file).")
        w(f"- **Separate findings at once**: {a.get('separate')} GuardDuty findings, one user each, every one its "
          "own `contain` process spawned at the same moment with its event queued (Lambda's concurrency), all "
          "sharing the account's one IAM rate; timed from the first spawn, each process's init included. "
          f"Custodian is not run here: {a.get('separate')} concurrent `custodian run` processes are not how it is "
          "deployed.")
        w("")
        w("| incident | responder | principals contained (read back) | time to contain all | its floor | Custodian over "
          "Tourniquet (run by run) | time to complete | throttled requests | failed steps | peak RSS |")
        w("|---|---|---|---|---|---|---|---|---|---|")
        names = {"health": "Health, keys", "mixed": "users and roles", "separate": "separate findings"}
        for scenario in ("health", "mixed", "separate"):
            data = incidents.get(scenario) or {}
            t, c = data.get("tourniquet", []), data.get("custodian", [])
            for key, runs in (("tourniquet", t), ("custodian", c)):
                if not runs:
                    continue
                expected = runs[0].get("expected")
                label = "**Tourniquet** `contain`" if key == "tourniquet" else "Cloud Custodian"
                if scenario == "separate":
                    label += f" ×{expected} processes"
                w(f"| {names[scenario]} | {label} | "
                  f"{spread([{'n': r.get('verified_contained')} for r in runs], 'n', 'n')} of {expected} | "
                  f"{spread(runs, 'contain_s')} | {spread(runs, 'floor_s')} | "
                  f"{ratio_spread(t, c) if key == 'custodian' else '—'} | {complete_of(runs)} | "
                  f"{spread(runs, 'throttled', 'n')} | "
                  f"{spread(runs, 'failed_steps', 'n') if key == 'tourniquet' and scenario != 'separate' else '—'} | "
                  f"{spread(runs, 'peak_rss_kb', 'mb') if key == 'tourniquet' else '—'} |")
        sep = (incidents.get("separate") or {}).get("tourniquet", [])
        statuses: dict = {}
        for r in sep:
            for k, n in (r.get("statuses") or {}).items():
                statuses[str(k)] = statuses.get(str(k), 0) + n
        if statuses:
            w("")
            w("The separate invocations answered (all runs): " + ", ".join(f"`{k}` ×{n}" for k, n in sorted(statuses.items()))
              + f". Each process paces itself at its default 40 requests/s and halves at a throttle; "
              f"{a.get('separate')} of them share the proxy's {a['throttle_rate']:g}: peak RSS is the largest "
              "single process's.")
        w("")
    L += shapes_section(res)
    L += thousand_section(res)
    L += org_section(res)
    L += audit_section(res)
    errs: dict = {}
    for r in many.get("tourniquet", []):
        for k, n in r.get("errors", {}).items():
            errs[k] = errs.get(k, 0) + n
    if errs:
        w("Errors other than throttling in Tourniquet's many-principal runs (all runs): "
          + ", ".join(f"`{k}` ×{n}" for k, n in sorted(errs.items())) + ".")
        w("")

    w("### Cold start (process start → first Runtime API poll → first response), peak RSS")
    w("")
    w("Each process is started fresh under the Runtime API stub and handed "
      "`events/ec2-state-change.json`, an event every function answers without an AWS call (`ignored`), so the "
      "first response measures the runtime, the SDK clients' construction and intake, not the network. Peak "
      "RSS is `VmHWM` from `/proc/<pid>/status` read before the process is stopped.")
    w("")
    w("| binary | to first poll | to first response | peak RSS | answered |")
    w("|---|---|---|---|---|")
    for name, runs in cold.items():
        label = f"`{name}`" if name != "boto3" else "Python baseline (imports boto3, builds IAM and S3 clients)"
        answers = sorted({str(r.get("answer")) for r in runs})
        w(f"| {label} | {spread(runs, 'first_poll_s', 'ms')} | {spread(runs, 'first_response_s', 'ms')} | "
          f"{spread(runs, 'peak_rss_kb', 'mb')} | {', '.join(answers)} |")
    w("")
    rss_contain = vals(user.get("tourniquet_warm", []), "peak_rss_kb")
    rss_many = vals(many.get("tourniquet", []), "peak_rss_kb")
    if rss_contain:
        w(f"`contain`'s peak RSS after containing the user twice: {spread(user['tourniquet_warm'], 'peak_rss_kb', 'mb')}; "
          + (f"after the {a['many']}-principal event: {spread(many['tourniquet'], 'peak_rss_kb', 'mb')}." if rss_many else ""))
        w("")

    w("### Package size")
    w("")
    fns = sizes.get("functions", {})
    arm = "arm64_error" not in sizes
    if arm:
        w(f"`cargo lambda build --release --arm64 --output-format zip` (cargo-lambda 1.9.2, zig from PyPI) built "
          f"every function in {sizes.get('arm64_build_s', 0):.0f} s.")
    else:
        w("**The arm64 cross-build did not run here**: `cargo lambda build --release --arm64 --output-format zip` "
          f"said: `{sizes.get('arm64_error', '?').replace('`', chr(39))}`. It needs the aarch64 standard "
          "library (`rustup target add aarch64-unknown-linux-gnu`), which a machine without network beyond the "
          "package registries cannot download. The sizes below are therefore the host's **x86_64** release "
          "binaries (the workspace's release profile strips them), zipped as Lambda takes them (one "
          "`bootstrap`, deflate level 9).")
    w("")
    if arm:
        w("| function | arm64 `bootstrap` | arm64 zip | x86_64 stripped binary (host) | x86_64 zip |")
        w("|---|---|---|---|---|")
        for f, e in fns.items():
            w(f"| `{f}` | {mb(e.get('arm64_bootstrap'))} | {mb(e.get('arm64_zip'))} | {mb(e.get('host_binary'))} | "
              f"{mb(e.get('host_zip'))} |")
    else:
        w("| function | x86_64 stripped `bootstrap` | zip |")
        w("|---|---|---|")
        for f, e in fns.items():
            w(f"| `{f}` | {mb(e.get('host_binary'))} | {mb(e.get('host_zip'))} |")
    w("")

    # --- targets -------------------------------------------------------------------------------
    w("## Targets")
    w("")
    w("| target | measured | verdict |")
    w("|---|---|---|")
    notes: list[str] = []
    tc, tw = user.get("tourniquet_cold", []), user.get("tourniquet_warm", [])
    rc, rw = role.get("tourniquet_cold", []), role.get("tourniquet_warm", [])

    def req_wave(runs, idx):
        v = [r["requirement_waves"][idx] for r in runs if len(r.get("requirement_waves") or []) > idx]
        return statistics.median(v) if v else None

    def req_iam(runs, idx):
        v = [r["requirement_iam_waves"][idx] for r in runs if len(r.get("requirement_iam_waves") or []) > idx]
        return statistics.median(v) if v else None

    # 1. the critical writes in IAM wave 1, every key by wave 2
    crit_w = max_or_none([req_iam(tw, 0), req_iam(tw, 1), req_iam(rw, 0)])
    crit_c = max_or_none([req_iam(tc, 0), req_iam(tc, 1), req_iam(rc, 0)])
    other_w, other_c = req_iam(tw, 2), req_iam(tc, 2)
    met1w = crit_w == 1 and other_w is not None and other_w <= 2
    met1c = crit_c == 1 and other_c is not None and other_c <= 2
    w(f"| one user, cold and warm: the deny, the cutoff and the named key in IAM wave 1, every key by wave 2 "
      f"| warm: wave {fmtn(crit_w)}, other key wave {fmtn(other_w)}; cold: wave {fmtn(crit_c)}, other key wave "
      f"{fmtn(other_c)} | {verdict(met1w, met1c)} |")
    notes.append(
        "**IAM waves.** The targets count IAM round trips: the one S3 round trip before the first IAM write "
        "(the run's intent stored, the incident's ledger listed, `sts:GetCallerIdentity` beside them on a cold "
        "start) is not IAM's. The deny, the cutoff and the named key go out in the first IAM wave with the "
        "snapshot's lists; `ListAccessKeys` is in that wave too, and its answer starts the other key's "
        "deactivation at once.")
    # 2. the whole run
    iw = {k: med(v, "iam_waves") for k, v in (("uc", tc), ("uw", tw), ("rc", rc), ("rw", rw))}
    wv = {k: med(v, "waves") for k, v in (("uc", tc), ("uw", tw), ("rc", rc), ("rw", rw))}
    met2w = iw["uw"] is not None and iw["uw"] <= 5
    met2c = iw["uc"] is not None and iw["uw"] is not None and iw["uc"] <= iw["uw"]
    w(f"| the whole run no longer than 5 IAM waves warm, and cold no longer than warm | user {fmtn(iw['uw'])} IAM "
      f"waves warm / {fmtn(iw['uc'])} cold; role {fmtn(iw['rw'])} / {fmtn(iw['rc'])}. All waves on the wire: user "
      f"{fmtn(wv['uw'])} / {fmtn(wv['uc'])}, role {fmtn(wv['rw'])} / {fmtn(wv['rc'])} (the report: "
      f"{fmtn(med(tw, 'report_waves'))} / {fmtn(med(tc, 'report_waves'))}) | {verdict(met2w, met2c)} |")
    notes.append(
        "**The whole run.** The IAM waves are the snapshot's longest chain of dependent reads, a group's "
        "managed policies: `ListGroupsForUser` → `ListAttachedGroupPolicies` → `GetPolicy` (for the default "
        "version) → `GetPolicyVersion`. Around them: the S3 round trip before the first write, and two of "
        "evidence (the objects, then the manifest that records the versions S3 gave them)."
        + (f" The wire shows {fmtn(wv['uw'])} waves for the user where the function reports "
           f"{fmtn(med(tw, 'report_waves'))}: the other key's deactivation starts the moment `ListAccessKeys` "
           "answers and ends before the slowest list of that wave has, so the critical path (which cannot tell "
           "an early start from a later wave) counts it as a wave of its own; the function counts dependent "
           "round trips." if wv["uw"] and med(tw, "report_waves") and wv["uw"] > med(tw, "report_waves") else ""))
    # 3. time to contain one principal against the baselines (for reference: the many-principal event is
    # the engine's target)
    lines3 = []
    for kind, data in (("user", with_custodian_first(user)), ("role", with_custodian_first(role))):
        for mode, own, boto, c7n in (("cold", "tourniquet_cold", "boto3_cold", "custodian"),
                                     ("warm", "tourniquet_warm", "boto3_warm", "custodian_first")):
            lines3.append(f"{kind} {mode}: {secs(med(data.get(own, []), 'contain_s'))}, boto3 (writes first) "
                          f"{ratio_spread(data.get(own, []), data.get(boto, []))}, Custodian "
                          f"{ratio_spread(data.get(own, []), data.get(c7n, []))}")
    w(f"| one principal: time to contain against both baselines, same start line (no target) "
      f"| {'; '.join(lines3)} | — |")
    notes.append(
        "**One principal.** Cloud Custodian's first AWS request comes "
        f"{spread(user.get('custodian', []), 'first_request_s')} after its process starts (Python, c7n's "
        "imports, policy validation); Tourniquet's cold invocation, from its spawn, sends its first request after "
        f"{spread(tc, 'first_request_s')}, the boto3 responder's after "
        f"{spread(user.get('boto3_cold', []), 'first_request_s')} (Python and boto3's imports). The warm "
        "ratios against Custodian leave its start out entirely, so they understate Tourniquet's lead as a "
        "deployed Custodian would show it.")
    # 4. many principals: the floor, Custodian, no failures, the snapshot within the timeout
    mt = many.get("tourniquet", [])
    mtold = many.get("tourniquet_told", [])
    c7 = med(many.get("custodian", []), "contain_s")

    def floor_ratio(runs):
        return med([{"x": r["contain_s"] / r["floor_s"]} for r in runs
                    if r.get("contain_s") and r.get("floor_s")], "x")

    def many_ok(runs):
        return bool(runs) and all(r.get("answered") and r.get("principals_contained") == a["many"]
                                  and not r.get("failed_steps")
                                  and set(r.get("target_statuses") or {}) == {"contained"}
                                  and (r.get("complete_s") or 1e9) < 300 for r in runs)

    fr, frt = floor_ratio(mt), floor_ratio(mtold)
    met4a = fr is not None and fr <= 1.5
    w(f"| {a['many']} users, {a['throttle_rate']:g} IAM requests/s: every principal contained within 1.5× the floor "
      f"| default pace: {spread(mt, 'contain_s')} against a floor of {spread(mt, 'floor_s')}: {fmtx(fr)}; told the "
      f"rate: {spread(mtold, 'contain_s')}, {fmtx(frt)} | {yes(met4a)} |")
    mc7 = many.get("custodian", [])
    per_run = [r["x"] for r in ratios(mt, mc7)]
    per_run_t = [r["x"] for r in ratios(mtold, mc7)]
    rc7 = statistics.median(per_run) if per_run else None
    rc7t = statistics.median(per_run_t) if per_run_t else None
    met4b = rc7 is not None and rc7 >= 3
    w(f"| the same, at least 3× faster than Cloud Custodian, run by run (median of ratios) | Custodian {secs(c7)}: "
      f"default pace {ratio_spread(mt, mc7)}; told the rate {ratio_spread(mtold, mc7)} | {yes(met4b)}"
      + (" (told the rate: **met**)" if not met4b and rc7t and rc7t >= 3 else "") + " |")
    met4c = many_ok(mt)
    w(f"| the same: zero failed steps, the snapshot complete for all {a['many']} within the 300 s timeout | "
      f"{spread(mt, 'failed_steps', 'n')} failed steps, {spread(mt, 'throttled', 'n')} requests throttled, "
      f"complete in {spread(mt, 'complete_s')}; statuses "
      f"{', '.join(sorted({k for r in mt for k in (r.get('target_statuses') or {})})) or '—'} | {yes(met4c)} |")
    if mt:
        notes.append(
            f"**{a['many']} principals.** Every IAM request of the invocation goes through one token bucket "
            "that serves the containment writes first, then each principal's `ListAccessKeys` (whose answer "
            "starts its key deactivations), then the snapshot's reads; a read yields once before it queues, so "
            "that every write of the same pass is ahead of it. At its default pace (40 requests/s, below the "
            f"{a['throttle_rate']:g} the proxy allows) the containment takes the floor's requests at 40/s; told "
            "the account's rate, it keeps to it. The snapshot's reads follow at the same pace, each managed "
            f"policy's document read once for the event; the median principal was contained at "
            f"{secs(med(mt, 'median_contained_s'))}.")
    # 5. RSS
    rss_cold = max_or_none([med(v, "peak_rss_kb") for k, v in cold.items() if k != "boto3"])
    rss_user = med(tw, "peak_rss_kb")
    rss_many = max_or_none([med(many.get(k, []), "peak_rss_kb") for k in ("tourniquet", "tourniquet_told")])
    met5a = rss_many is not None and rss_many * 1024 < 32 * MB
    met5b = rss_user is not None and rss_user * 1024 < 16 * MB
    w(f"| peak RSS under 32 MiB for the {a['many']}-principal event | {fmtkb(rss_many)} (the most of any variant) "
      f"| {yes(met5a)} |")
    w(f"| peak RSS under 16 MiB for one principal | `contain` after two users {fmtkb(rss_user)}; cold start "
      f"{fmtkb(rss_cold)}; Python baseline {fmtkb(med(cold.get('boto3', []), 'peak_rss_kb'))} | {yes(met5b)} |")
    notes.append(
        "**Memory.** Eight principals' snapshots are read at once (their key listings and every containment "
        "write are never held back), and a principal's read futures are built only when its turn comes, so "
        "the memory grows with those eight, not with the event. Each principal's snapshot and plan are "
        "serialized and uploaded when it is done (at most eight uploads at once) and dropped; the report and "
        "the manifest keep only keys, hashes and versions. A managed policy's document is held once for the "
        "event, shared by every snapshot that names it. The functions run one runtime thread.")
    # 6. a failing read
    gap = user.get("tourniquet_gap", [])
    gap_w = max_or_none([req_iam(gap, 0), req_iam(gap, 1), req_iam(gap, 2)])
    w(f"| one snapshot read failing with HTTP 500: every key deactivated by IAM wave 2 | the last key in IAM wave "
      f"{fmtn(gap_w)} | {yes(gap_w is not None and gap_w <= 2)} |")
    # 7. cold start
    polls = {k: med(v, "first_poll_s") for k, v in cold.items() if k != "boto3"}
    worst = max((v for v in polls.values() if v is not None), default=None)
    met7 = worst is not None and worst < 0.020
    w(f"| init to first poll under 20 ms | slowest binary {fmtms(worst)} (median); Python baseline "
      f"{fmtms(med(cold.get('boto3', []), 'first_poll_s'))} | {yes(met7)} |")
    # 6. zip
    zkey = "arm64_zip" if arm else "host_zip"
    zips = [e.get(zkey) for e in fns.values() if e.get(zkey)]
    worst_zip = max(zips, default=None)
    met6 = worst_zip is not None and worst_zip < 6e6  # the stricter reading: 6·10^6 bytes
    w(f"| each zip under 6 MB | largest {mb(worst_zip)} ({'arm64' if arm else 'x86_64: the arm64 build could not run'}); "
      f"the `bootstrap` in it {mb(max([e.get('arm64_bootstrap' if arm else 'host_binary') or 0 for e in fns.values()], default=None))} "
      f"| {yes(met6)} |")
    notes.append(
        "**Size.** Every function links the whole `tourniquet-aws` crate and the IAM, S3 and STS SDKs, so the six "
        "binaries are within a few kB of one another; the SDKs' generated code is most of each.")
    # 8. make bench time
    total = res.get("total_s")
    builds = (res.get("build_s") or 0) + (sizes.get("arm64_build_s") or 0)
    rest = None if total is None else total - builds
    w(f"| `make bench` under 30 minutes with a warm target directory | this run {secs(total)}: builds "
      f"{secs(builds)} ({'cached' if builds < 60 else 'not cached: the sources had changed'}), the rest "
      f"{secs(rest)} | {yes(rest is not None and rest + min(builds, 60) < 1800)} |")
    notes.append(
        "**Duration.** With both builds cached, `make bench` is its measurements (this run: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in (res.get("phase_s") or {}).items()) + "). A cold "
        "`make bench` adds the two release builds (host and arm64, each several minutes on 2 cores) and the "
        "virtualenv.")
    w("")
    for n in notes:
        w(n)
        w("")

    # --- how to run -------------------------------------------------------------------------------
    w("## Running it")
    w("")
    w("`make bench` creates `bench/.venv-bench` (c7n, boto3, cargo-lambda with zig; pinned in "
      "`bench/requirements.txt`) and the repository's moto virtualenv if missing, builds the release binaries "
      "and the arm64 packages, measures, and rewrites this file. `bench/.venv-bench/bin/python bench/run.py "
      "--help` lists the knobs (`--runs`, `--latency-ms`, `--throttle-rate`, `--many`, `--sweep-rates`, "
      "`--org-accounts`, `--org-concurrency`, `--org-queue`, `--quick` for a smaller run while iterating, "
      "`--skip-arm64`). Logs of every process are in "
      "`bench/out/logs/`. How long this run took, phase by phase, is under Targets (Duration).")
    w("")

    # --- the baselines' scope ------------------------------------------------------------------
    w("## What each baseline does and does not do")
    w("")
    w("**boto3 responder** (`bench/boto3_responder.py`, a Lambda handler under the same Runtime API stub, "
      "boto3's default client settings: legacy retry mode, 5 attempts). For each principal of the event, "
      "one call after another, the containment writes first, as a fair sequential responder would:")
    w("")
    w("- user: `PutUserPolicy TourniquetDenyAll`, `UpdateAccessKey Inactive` of the key the event names, "
      "`PutUserPolicy TourniquetRevokeOlderSessions` (the same `aws:TokenIssueTime` cutoff), `ListAccessKeys` "
      "and `UpdateAccessKey Inactive` per other active key; then the snapshot's reads one by one (`GetUser`, "
      "`ListAccessKeys`, `GetAccessKeyLastUsed` per key, `ListUserPolicies` + `GetUserPolicy` each, "
      "`ListAttachedUserPolicies` + `GetPolicy`/`GetPolicyVersion` each, `ListGroupsForUser` + each group's "
      "inline and managed policies with documents, `GetLoginProfile`, `ListMFADevices`, `ListUserTags`, "
      "`ListSigningCertificates`, `ListSSHPublicKeys`, `ListServiceSpecificCredentials`), `TagUser` (the same "
      "three tags), and the snapshot and a report to S3.")
    w("- role: `PutRolePolicy TourniquetRevokeOlderSessions`; then `GetRole`, inline and managed policies with "
      "documents, instance profiles, tags, `TagRole`, and the evidence to S3.")
    w("- *Snapshot first* (`BOTO3_ORDER=snapshot-first`, the labelled second row): the whole snapshot, then "
      "every write, as responders that record before they act are written; kept because it is what the "
      "earlier tables compared against.")
    w("- It does **not**: refuse protected, root, service-linked or its own principals; recognise a replay; take "
      "a fallback route when an inline policy does not fit; write evidence write-once with checksums or a "
      "manifest; look up a key's owner; read events other than GuardDuty and the Security Hub custom action. "
      "One principal's failure does not stop the next.")
    w("")
    w("**Cloud Custodian** (`c7n` from PyPI, `custodian run` in pull mode, the policy in `bench/out/custodian/`). "
      "It can do part of the job on an IAM user: `remove-keys` with `disable: true` (every key set Inactive), "
      "`set-policy` with `state: attached` of a managed deny-all policy (created once beforehand, as a "
      "Custodian deployment would), and `tag`; on a role, `set-policy` (the deny) and `tag` (Custodian has "
      "no `remove-keys` for roles). It finds the principals by listing every user (or role) of the account "
      "and filtering by name (`value` filter). It does **not**: take a snapshot or any evidence beyond its own "
      "`resources.json`; revoke older sessions (no action puts a policy with a token-issue-time condition); "
      "leave a role's workload running (its only containment of a role is the deny); read the finding itself "
      "(the policy names the principals); refuse protected principals; report per step. Custodian's "
      "Lambda modes (`guard-duty`, `cloudtrail`) would skip the process start, but still act one resource and "
      "one action after another.")
    w("")
    return "\n".join(L) + "\n", failures


def complete_of(runs) -> str:
    if runs and all(r.get("stopped_when_contained") for r in runs):
        return "— (left once contained)"
    return spread(runs, "complete_s")


def shapes_section(res: dict) -> list[str]:
    """One incident's other shapes: three accounts, 30 policies, the fallback routes, a replay."""
    shapes, a = res.get("shapes") or {}, res["args"]
    if not shapes:
        return []
    L: list[str] = []
    w = L.append
    w(f"### One incident's other shapes, throttled at {a['throttle_rate']:g} IAM requests/s")
    w("")
    w("Each row: a GuardDuty user finding (a synthetic Security Hub custom action for three accounts), Tourniquet's "
      "`contain` already started (warm) and Cloud Custodian from its process start, "
      f"{a['many_runs']} runs each, the order rotated.")
    w("")
    w("- **Three accounts**: one user in this account and one in each of two member accounts, entered through "
      "the member role (`MEMBER_ROLE_NAME`; moto's STS issues the member credentials). Custodian: one "
      "`custodian run` per account, the member ones with `--assume` of the same role, the three started at "
      "once as c7n-org's process pool would run them. One throttle bucket serves all three accounts (stricter "
      "than IAM, whose rate is per account).")
    w("- **30 policies**: a user with 10 inline policies, 10 customer managed policies attached (IAM's default "
      "quota) and 10 groups with an inline policy each; the snapshot reads them all.")
    w("- **No room for a policy**: a user whose inline documents use 2,032 of IAM's 2,048 characters and who "
      "has 10 managed policies attached. Moto enforces neither limit, so the proxy answers as IAM would for "
      "this user: `LimitExceeded` to `PutUserPolicy TourniquetDenyAll` and to every `AttachUserPolicy`. "
      "Tourniquet falls back to a managed policy, then to the quarantine group; Custodian's `set-policy` "
      "attach is refused.")
    w("")
    w("| shape | responder | contained (read back) | time to contain | Custodian over Tourniquet (run by run) | "
      "time to complete | IAM requests | IAM writes | throttled | how the deny went in (all runs) |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    names = {"accounts": "three accounts", "policies": "30 policies", "fallback": "no room for a policy"}
    for scenario in ("accounts", "policies", "fallback"):
        data = shapes.get(scenario) or {}
        t, c = data.get("tourniquet", []), data.get("custodian", [])
        for key, runs in (("tourniquet", t), ("custodian", c)):
            if not runs:
                continue
            routes: dict = {}
            for r in runs:
                for k, n in (r.get("routes") or {}).items():
                    routes[str(k)] = routes.get(str(k), 0) + n
            how = ", ".join(f"`{k}` ×{n}" for k, n in sorted(routes.items())) if key == "tourniquet" else \
                "managed deny attached" if all(r.get("verified_contained") == r.get("expected") for r in runs) else \
                "attach refused: " + spread(runs, "verified_contained", "n") + " contained"
            contain = spread(runs, "contain_s")
            w(f"| {names[scenario]} | {'**Tourniquet** `contain`' if key == 'tourniquet' else 'Cloud Custodian'} | "
              f"{spread(runs, 'verified_contained', 'n')} of {runs[0].get('expected')} | "
              f"{contain if contain != '—' else '— (never contained)'} | "
              f"{ratio_spread(t, c) if key == 'custodian' else '—'} | {complete_of(runs)} | "
              f"{spread(runs, 'iam_requests', 'n')} | {spread(runs, 'iam_writes', 'n')} | "
              f"{spread(runs, 'throttled', 'n')} | {how} |")
    w("")
    replay = shapes.get("replay") or {}
    if replay.get("tourniquet") or replay.get("custodian"):
        w("**A replay**: the same GuardDuty finding delivered again after its user was contained (EventBridge "
          "delivers at least once; a responder re-runs a console test event). Tourniquet: the same event to the "
          "same started process; Custodian: the same policy run again. The second run is measured.")
        w("")
        w("| responder | second run: time to answer | its IAM writes | its IAM requests | the first run's IAM writes | "
          "answer (all runs) | its steps' outcomes (all runs) | still contained (read back) |")
        w("|---|---|---|---|---|---|---|---|")
        for key, label in (("tourniquet", "**Tourniquet** `contain`"), ("custodian", "Cloud Custodian")):
            runs = replay.get(key, [])
            if not runs:
                continue
            answers: dict = {}
            for r in runs:
                for k, n in (r.get("target_statuses") or {str(r.get("status")): 1}).items():
                    answers[str(k)] = answers.get(str(k), 0) + n
            outcomes: dict = {}
            for r in runs:
                for k, n in (r.get("step_outcomes") or {}).items():
                    outcomes[str(k)] = outcomes.get(str(k), 0) + n
            w(f"| {label} | {spread(runs, 'complete_s')} | {spread(runs, 'iam_writes', 'n')} | "
              f"{spread(runs, 'iam_requests', 'n')} | {spread(runs, 'first_iam_writes', 'n')} | "
              + ", ".join(f"`{k}` ×{n}" for k, n in sorted(answers.items())) + " | "
              + (", ".join(f"`{k}` ×{n}" for k, n in sorted(outcomes.items())) or "— (it reports none)")
              + f" | {spread(runs, 'verified_contained', 'n')} of 1 |")
        w("")
        t = replay.get("tourniquet", [])
        if t and (med(t, "iam_writes") or 0) > 0:
            w("Tourniquet's replay sends its first-wave writes again (the deny, the session cutoff, the named key): "
              "they go out before any state is read, by design, and carry the same values, so IAM is unchanged "
              "and a containment undone by hand since the first run would be put back. The report compares them "
              "with the incident's ledger and says `already_in_place`.")
            w("")
    return L


def thousand_section(res: dict) -> list[str]:
    """The one labelled run that outgrows the timeout."""
    r, a = res.get("thousand"), res["args"]
    if not r:
        return []
    n = r.get("expected")
    L: list[str] = []
    w = L.append
    w(f"### {n} principals in one synthetic event: one labelled run at the 300 s timeout")
    w("")
    w(f"A synthetic Security Hub custom action naming {n} users (seeded as the many-principal event's), to one "
      f"`contain` process at its default pace, throttled at {a['throttle_rate']:g} IAM requests/s. The Runtime "
      "API stub gives the invocation Lambda's deadline, 300 s from the event; a process still running at 300 s "
      "is stopped there, as Lambda would stop it. One run: it shows what a responder sees, not a spread.")
    w("")
    times = r.get("contained_times_s") or []

    def by(t):
        return sum(1 for x in times if x <= t)
    answer = ("no answer: stopped at the 300 s timeout" if r.get("killed_at_timeout")
              else f"`{r.get('status')}` after {secs(r.get('complete_s'))}")
    statuses = ", ".join(f"`{k}` ×{v}" for k, v in sorted((r.get("stored_target_statuses") or {}).items()))
    w("| contained (read back) | time to contain all | its floor | contained by 30 s / 60 s / 120 s / 240 s | "
      "the answer | the stored report | snapshots cut short by the deadline | evidence objects | throttled | peak RSS |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    w(f"| {r.get('verified_contained')} of {n} | {secs(r.get('contain_s')) if r.get('contain_s') else '— (not all)'} | "
      f"{secs(r.get('floor_s'))} | {by(30)} / {by(60)} / {by(120)} / {by(240)} | {answer} | "
      f"{('`' + str(r.get('stored_report_status')) + '`: ' + statuses) if r.get('stored_report') else 'none stored'} | "
      f"{r.get('cut_short', 0) if r.get('stored_report') else '— (no report)'} | "
      f"{r.get('evidence_objects_stored')} | {r.get('throttled')} | "
      f"{mb((r.get('peak_rss_kb') or 0) * 1024)} |")
    w("")
    memory = res.get("memory_mb")
    if r.get("killed_at_timeout"):
        w(f"Every principal was contained on the wire by {secs(r.get('contain_s'))}, but the invocation did not answer "
          "before the timeout: its investigation stopped 15 s before the deadline, and the evidence of the "
          f"principals still open was being written when the 300 s came ({r.get('evidence_objects_stored')} objects "
          f"stored, no report). One invocation cannot finish an event this large; a responder sees the "
          "containment in IAM and in the function's log, not in a report.")
        w("")
    if memory and r.get("peak_rss_kb"):
        share = r["peak_rss_kb"] / 1024 / memory
        w(f"Peak RSS {mb(r['peak_rss_kb'] * 1024)} against the function's {memory} MB (`MemorySize` in "
          f"`template.yaml`, MiB in Lambda's accounting): {share:.0%}"
          + (", over it: Lambda would have stopped the function for memory." if share >= 1 else
             ", at the limit, where Lambda stops a function for memory." if share >= 0.9 else "."))
        w("")
    return L


def audit_section(res: dict) -> list[str]:
    """The readiness audit of a large account: two invocations of one process."""
    r = res.get("audit")
    if not r:
        return []
    L: list[str] = []
    w = L.append
    users, roles = r.get("users"), r.get("roles")
    w(f"### The readiness audit of an account with {users} users and {roles} roles")
    w("")
    w(f"The `audit` binary, one process under the Runtime API stub, on a moto account of {users} users (every "
      "one with an access key, a seventh with two, a third with a console password, a tenth with a policy of "
      f"their own, a fiftieth holding an allow-all policy) and {roles} roles (a fifth trusting another account, "
      "a quarter with an inline policy), plus AWS's managed policies moto loads, through the proxy at its "
      "latency. The first invocation is cold (timed from the process's spawn) and finds no earlier report; "
      "the second, warm (timed from the event), reads the first's report, as the daily run does.")
    w("")
    w("| run | answer | requests | failing verdicts | findings imported | fixed since |")
    w("|---|---|---|---|---|---|")
    for run in ("cold", "warm"):
        x = r.get(run) or {}
        reqs = x.get("requests") or {}
        w(f"| {run} | {secs(x.get('answer_s')) if x.get('ok') else 'failed: ' + str(x.get('error'))} | "
          f"{sum(reqs.values())} ({', '.join(f'{k} {v}' for k, v in sorted(reqs.items()))}) | "
          f"{(x.get('counts') or {}).get('failed')} of {(x.get('counts') or {}).get('verdicts')} | "
          f"{x.get('imported')} | {x.get('resolved')} |")
    w("")
    memory = res.get("memory_mb")
    rss = r.get("peak_rss_kb")
    w(f"The process used {secs(r.get('cpu_s'))} of CPU over both runs (parsing the credential report and the "
      f"authorization details, checking, rendering, TLS and JSON) and peaked at {mb((rss or 0) * 1024)} RSS"
      + (f", against the function's {memory} MB." if memory else "."))
    w("")
    w("What moto cannot show: it answers `GenerateCredentialReport` COMPLETE at once (IAM can take a minute "
      "for a large account; the audit polls every 2 s for up to 120 s, inside its 900 s timeout), and "
      "`GetAccountAuthorizationDetails` in one page (IAM pages it; each page is one more round trip at the "
      "account's IAM latency). Security Hub's `BatchImportFindings` accepts 100 findings a request and is "
      "rate-limited by AWS (the audit sends its batches one after the other, and a refused batch is a warning "
      "in the answer, not a failed audit).")
    w("")
    return L


# --- organization scale: the model's quotas -----------------------------------------------------
# Documented: Lambda's concurrency quota per Region (1,000 by default, shared by every function of
# the account there); an SQS event source mapping's MaximumConcurrency (2 to 1,000); its scaling on
# a standard queue (five concurrent batches when messages arrive, then up to 300 more a minute);
# SendMessageBatch's 10 messages a request. Assumed (not confirmed from AWS's documentation in the
# run that wrote this): STS at 600 requests a second per account and Region.
LAMBDA_CONCURRENCY = 1000
ESM_MAX_CONCURRENCY = 1000
ESM_START, ESM_RAMP_PER_S = 5, 300 / 60
STS_RPS = 600
SQS_BATCH = 10
S3_PAGE = 1000
S3_GET_PER_PREFIX = 5500  # documented: GET/HEAD requests a second per partitioned prefix
LAMBDA_TIMEOUT_S = 300  # the function's Timeout in template.yaml
REPORT_READS_AT_ONCE = 8  # how many of the incident's reports a run reads at once
FIFO_TPS = 300  # documented: a FIFO queue's calls a second per action, without high throughput


def org_params(org: dict) -> dict | None:
    """The model's inputs, from the least contended Tourniquet run of this phase (the lowest
    concurrency: on 2 cores a run with more processes measures the machine's CPU as well)."""
    runs = org.get("tourniquet") or {}
    if not runs:
        return None
    c = min(runs, key=int)
    r = runs[c]
    n = org.get("accounts") or 0
    if not n or not r.get("item_warm_s_median"):
        return None
    acts = r.get("requests_by_action") or {}
    items = max(1, r.get("invocations") or n)
    pairs = n * (n - 1) / 2
    return {
        "from_concurrency": int(c), "n": n, "fifo": org.get("queue") == "fifo",
        "t_item": r["item_warm_s_median"],
        "t_cold": r.get("item_cold_s_median") or r["item_warm_s_median"],
        "t_cut": r.get("item_cut_s_median") or r["item_warm_s_median"],
        # S3's times while the incident was small (the earliest warm items' window): later in a long
        # run they carry moto's queue.
        "t_list": r.get("s3_list_s_early") or r.get("s3_list_s_p10") or r.get("s3_list_s_median") or 0.0,
        "t_early": r.get("item_early_s_median") or r["item_warm_s_median"],
        "k_early": r.get("item_early_k_median") if r.get("item_early_s_median") else n / 2,
        "t_batch": r.get("send_batch_s_median") or 0.0,
        "dispatch_s": r.get("dispatch_answer_s") or 0.0,
        "objects_per_item": (r.get("evidence_objects_stored") or 0) / n,
        "sts_per_item": acts.get("AssumeRole", 0) / items,
        "iam_per_item": (r.get("requests_by_service") or {}).get("iam", 0) / items,
        "s3_per_item": (r.get("requests_by_service") or {}).get("s3", 0) / items,
        "lists_per_item": acts.get("S3 LIST", 0) / items,
        # Of the reports stored before an item starts, how many it reads (1: every one).
        "report_reads_per_prior": acts.get("S3 GET report.json", 0) / pairs if pairs else 0.0,
        "report_reads": acts.get("S3 GET report.json", 0),
        "t_get": r.get("report_get_s_early") or r.get("report_get_s_p10") or r.get("report_get_s_median") or 0.0,
        "t_get_median": r.get("report_get_s_median"),
        "requests_per_s": r.get("requests_per_s"),
        "dispatch_bytes_per_account": (r.get("dispatch_bytes") or 0) / n,
    }


def org_dispatch_s(n: int, p: dict) -> float:
    """The dispatching invocation: measured, plus a round trip per further 8 SendMessageBatch of 10
    (eight in flight at once, as `contain` sends them); on a FIFO queue no faster than its 300
    calls a second."""
    batches = math.ceil(n / SQS_BATCH)
    rounds = math.ceil(batches / 8)
    measured = math.ceil(math.ceil(p["n"] / SQS_BATCH) / 8)
    sending = max(rounds * p["t_batch"], batches / FIFO_TPS if p.get("fifo") else 0.0)
    return p["dispatch_s"] + max(0.0, sending - measured * p["t_batch"])


def org_growth(k: float, p: dict) -> tuple[float, float, float, float]:
    """What item number `k` (the items before it done) spends on the incident's growing evidence:
    (its first listing's time, all its listings' time, its report reads' time, the S3 reads)."""
    pages = max(1, math.ceil((k * p["objects_per_item"] + 1) / S3_PAGE))
    lists = max(1.0, p["lists_per_item"])
    reads = p["report_reads_per_prior"] * k
    read_s = math.ceil(reads / REPORT_READS_AT_ONCE) * p["t_get"]
    return pages * p["t_list"], lists * pages * p["t_list"], read_s, lists * pages + reads


def org_model(n: int, c: int, p: dict, ramp: bool = True) -> dict:
    """A model, not a measurement: the dispatch, then `n` work items on min(c, quotas) slots, each
    slot's first item a cold start. An item takes the measured warm time, moved by what its growing
    evidence costs against the measured run's earliest warm items: its listings of the incident (one
    before its first IAM write, on the path to the cut) and its reads of the incident's reports
    (beside the first writes, off that path); stretched when the slots together would ask STS for
    more AssumeRole a second than the quota, or (FIFO) more ReceiveMessage and DeleteMessage a
    second than the queue's 300 (one of each an item, as the emulation does). Slots open at once, or
    as the event source mapping scales (`ramp`: five, then five more a second)."""
    slots = min(c, ESM_MAX_CONCURRENCY, LAMBDA_CONCURRENCY)
    ref_first, ref_lists, ref_reads, _ = org_growth(p["k_early"], p)
    base = max(p["t_cut"], p["t_early"] - ref_lists - ref_reads)
    start = org_dispatch_s(n, p)
    heap = [(start + (max(0, i + 1 - ESM_START) / ESM_RAMP_PER_S if ramp else 0.0), i, False) for i in range(slots)]
    heapq.heapify(heap)
    last_cut = last_end = 0.0
    longest = 0.0
    reads_total = 0.0
    bound: set = set()
    for k in range(n):
        free, i, used = heapq.heappop(heap)
        first, lists, reads, s3 = org_growth(k, p)
        reads_total += s3
        item = base + lists + reads
        # STS: the slots' AssumeRole a second at this item time, against the quota; SQS FIFO: the
        # slots' receives (and deletes) a second against the queue's.
        if p["sts_per_item"] * slots / item > STS_RPS:
            item = p["sts_per_item"] * slots / STS_RPS
            bound.add("STS")
        if p.get("fifo") and slots / item > FIFO_TPS:
            item = slots / FIFO_TPS
            bound.add("SQS FIFO")
        cold = 0.0 if used else max(0.0, p["t_cold"] - p["t_item"])
        last_cut = max(last_cut, free + cold + max(0.0, p["t_cut"] + first - ref_first))
        end = free + cold + item
        longest = max(longest, item + cold)
        last_end = max(last_end, end)
        heapq.heappush(heap, (end, i, True))
    return {"contain_s": last_cut, "drained_s": last_end, "slots": slots, "bound": sorted(bound),
            "dispatch_s": start, "s3_reads": reads_total, "s3_rate": reads_total / max(1e-9, last_end - start),
            "longest_item_s": longest}


def org_section(res: dict) -> list[str]:
    """Organization scale: the role revoked in every account, and the model beyond."""
    org, a = res.get("org") or {}, res["args"]
    if not org:
        return []
    n = org.get("accounts")
    runs = org.get("tourniquet") or {}
    loop = org.get("boto3_loop") or {}
    L: list[str] = []
    w = L.append
    w(f"### Organization scale: {n} accounts")
    w("")
    w(f"One role, `ci-deployer`, in each of {n} accounts (12-digit ids the bench makes up; each account's role "
      "seeded in moto as that account's); the organization-wide manual request "
      '`{"principal_name": "role/ci-deployer", "accounts": [...], "incident_id": ...}` (a list of account '
      "ids: no AWS Organizations). Tourniquet's `contain` stores `dispatch.json` in the evidence bucket and "
      "sends one SQS message per account (`SendMessageBatch` of 10, `WORK_QUEUE_URL`); the same binary "
      "consumes the queue, entering each account through `TourniquetMemberContain` and putting "
      "`TourniquetRevokeOlderSessions` (one cutoff for the whole incident), its tags and the snapshot's reads. "
      "The baseline is a sequential boto3 loop of the same two calls per account (`AssumeRole` of the member "
      "role, `PutRolePolicy` of the same document), in the bench's process, through the same proxy. Every run "
      "starts from a new emulator process (without AWS's managed policies, which nothing here uses), seeded "
      "afresh; seeding is not measured.")
    w("")
    w("- **Start line**: the dispatching `contain` process is spawned with the request queued (a cold start, "
      "counted); the emulated event source mapping's workers start polling at the same moment. The loop's "
      "start line is its first line (Python and boto3 already imported: its start is not counted).")
    w("- **Every account contained**: from the start line to the end of the last account's successful "
      "`PutRolePolicy TourniquetRevokeOlderSessions` on the wire. Every account's role has the same name, so "
      "the proxy tells accounts apart by the credentials that signed the request: a session key is the "
      "account's whose role the `AssumeRole` that issued it named (the proxy also tells moto that account: "
      "moto would otherwise look a new session key up in every account's IAM, seconds per account on its "
      "first use, an emulator cost AWS does not have). **Drained**: to the last message's "
      "`DeleteMessage`, the queue then empty (visible and in flight). *Contained (read back)*: the policy "
      "read from each account's role in moto afterwards; *cutoffs*: how many distinct `aws:TokenIssueTime` "
      "values those policies carry.")
    w(f"- **Throttling**: the main throttle ({org.get('throttle_rate', a['throttle_rate']):g} requests/s, burst "
      f"{org.get('throttle_burst', a['throttle_burst']):g}) with **one bucket per account and service** for IAM "
      "and STS, as IAM's and STS's rates are per account: each member account's IAM has its own bucket, and "
      "every `AssumeRole` (Tourniquet's and the loop's alike) draws on the responder account's STS bucket. "
      "The three-account shape above uses one bucket for every account, which is stricter than AWS.")
    w("- **The event source mapping is emulated**, by a Python loop in the bench, not Lambda: C worker threads, "
      "each keeping one `contain` process warm under its own Runtime API stub (its first invocation a cold "
      "start, as a new execution environment's would be; a process that exits is replaced by a cold one), "
      "each receiving one message at a time (`BatchSize` 1, long polling of 1 s), invoking with the event "
      "Lambda builds, deleting the message when `batchItemFailures` is empty and leaving it to the visibility "
      "timeout otherwise. The queue: "
      + ("FIFO, as the template's `WorkQueue` (`contain` sends each item with its account as the message "
         "group), " if org.get("queue") == "fifo" else "a standard queue (`--org-queue standard`; the "
         "template's is FIFO), ")
      + f"visibility {org.get('visibility_s')} s, the function's timeout (the template's is 1,800 s, six "
      f"times it: shortened so that a failed item comes back within the run, while no item still running is "
      f"delivered twice), redrive to "
      f"a dead-letter queue after {org.get('max_receives')} receives (`WorkMaxReceives`). All C workers start "
      "at once; Lambda's mapping scales up over time instead (see the model). The mapping's own SQS calls go "
      "through the proxy and carry its latency.")
    cores = (res.get("machine") or {}).get("nproc")
    w(f"- **One machine**: moto, the proxy (Python threads), the bench's workers and every `contain` process "
      f"share {cores} cores. At concurrency 50, fifty `contain` processes and moto's request threads run on "
      f"{cores} cores, where Lambda would give each execution environment its own share of a CPU: the "
      "higher concurrency measures this machine as much as Tourniquet, and per-item times grow with it. "
      f"moto answers on loopback; the proxy adds {a['latency_ms']:g} ms to every request (IAM, STS, S3 and "
      "SQS alike).")
    w("")
    def against_loop(r):
        if not loop.get("contain_s") or not r.get("contain_s"):
            return "—"
        x = loop["contain_s"] / r["contain_s"]
        return f"{x:.2f}×" + (" (slower than the loop)" if x < 1 else "")

    w("| responder | concurrency | every account contained | drained | invocations | cold starts | throttled "
      "(IAM / STS) | contained (read back) | cutoffs | the loop's time ÷ this |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for c in sorted(runs, key=int):
        r = runs[c]
        th = r.get("throttled") or {}
        contained = span(r.get("contain_s")) if r.get("contain_s") is not None else \
            f"— ({r.get('contained_on_wire')} of {n} on the wire)"
        drained = span(r.get("drained_s")) if r.get("drained_s") is not None else \
            f"— ({r.get('queue_left')} left, {r.get('dead_letters')} dead letters)"
        w(f"| **Tourniquet**: `contain` dispatching, emulated event source mapping | {c} | {contained} | {drained} | "
          f"{r.get('invocations')} work items + 1 dispatch | {r.get('cold_starts')} + 1 | "
          f"{th.get('iam', 0)} / {th.get('sts', 0)} | {r.get('verified_contained')} of {n} | "
          f"{len(r.get('cutoffs') or [])} | {against_loop(r)} |")
    if loop:
        th = loop.get("throttled") or {}
        w(f"| sequential boto3 loop (`AssumeRole` + `PutRolePolicy` per account) | 1 | "
          f"{span(loop.get('contain_s')) if loop.get('contain_s') is not None else '— (not every account)'} | — | "
          f"— (one process) | — | {th.get('iam', 0)} / {th.get('sts', 0)} | {loop.get('verified_contained')} of "
          f"{n} | {len(loop.get('cutoffs') or [])} | 1× |")
    w("")
    if runs:
        w("| concurrency | first / median account contained | the dispatch answered (`status`) | messages sent by | "
          "work item, warm (median) | work item, cold (median) | item start → its cut (warm, median) | "
          "failed / redelivered | requests (peak in flight) | the incident's status afterwards |")
        w("|---|---|---|---|---|---|---|---|---|---|")
        for c in sorted(runs, key=int):
            r = runs[c]
            inc = r.get("incident") or {}
            counts = ", ".join(f"{k} {v}" for k, v in sorted((inc.get("counts") or {}).items()))
            w(f"| {c} | {secs(r.get('first_contained_s'))} / {secs(r.get('median_contained_s'))} | "
              f"{secs(r.get('dispatch_answer_s'))} (`{r.get('dispatch_status')}`, {r.get('dispatched_items')} items) | "
              f"{secs(r.get('dispatch_sent_s'))} ({r.get('send_batches', 0)} `SendMessageBatch`) | "
              f"{secs(r.get('item_warm_s_median'))} | {secs(r.get('item_cold_s_median'))} | "
              f"{secs(r.get('item_cut_s_median'))} | {r.get('failed_invocations')} / {r.get('redeliveries')} | "
              f"{r.get('requests', 0):,} ({r.get('max_in_flight')}) | `{inc.get('status')}`"
              + (f": {counts}" if counts else "") + (", summary stored" if inc.get("summary") else "") + " |")
        w("")
        dup = {c: r.get("concurrent_duplicates") for c, r in runs.items() if r.get("concurrent_duplicates")}
        if dup:
            w("Redelivered here means received twice at the same moment: "
              + ", ".join(f"{v} message(s) at concurrency {c}" for c, v in sorted(dup.items(), key=lambda x: int(x[0])))
              + " went to two workers whose receives overlapped (moto's receive is not atomic under concurrent "
              "polls; an SQS FIFO queue does not do this). Both runs of the item contained the account; the "
              "invocations column counts both.")
            w("")
    low = runs[min(runs, key=int)] if runs else {}
    if loop.get("contain_s") and low.get("item_warm_s_median"):
        per_account = loop["contain_s"] / n
        t_item, t_cut = low["item_warm_s_median"], low.get("item_cut_s_median")
        acts = low.get("requests_by_action") or {}
        w(f"**Where the time goes.** The loop does two round trips an account ({secs(per_account)} each account "
          f"here) and nothing else: no snapshot, tags, evidence, report or summary; {2 * n:,} requests in all. "
          f"At concurrency {min(runs, key=int)} Tourniquet sent {low.get('requests', 0):,} requests, "
          f"{acts.get('S3 GET report.json', 0):,} of them reads of reports the incident already had "
          f"{'(each item reads the report of every item before it)' if acts.get('S3 GET report.json', 0) > n else '(each item reads only the incident’s own and its own item’s reports)'} "
          f"and {acts.get('S3 LIST', 0):,} listings of its evidence. "
          f"A work item holds its slot for {secs(t_item)} (warm, median; the earliest warm items "
          f"{secs(low.get('item_early_s_median'))}): its account's cut comes "
          f"{secs(t_cut)} after its start, the rest is those reads, the snapshot, the evidence, the item's report "
          "and the incident's conclusion, during which the slot takes no other account. C slots therefore contain "
          f"about C / {t_item:.2f} s accounts a second, the loop 1 / {per_account:.2f} s: at that item time the "
          f"fan-out needs a concurrency of about **{t_item / per_account:.0f}** to match the loop"
          + (f"; but moto, one Python process, was already busy {busy:.0%} of a core at concurrency "
             f"{min(runs, key=int)}, so on this machine more concurrency makes each item longer rather than the "
             "run shorter" if (busy := moto_busy(low)) and busy >= 0.8 else "")
          + ". On AWS the concurrency is bounded by the quotas, and the item time by the incident's growing "
          "evidence (see the model).")
        w("")
    errs: dict = {}
    for r in list(runs.values()) + ([loop] if loop else []):
        for k, v in (r.get("errors") or {}).items():
            errs[k] = errs.get(k, 0) + v
    if errs:
        w("Answers other than 2xx, throttling and 404 on the wire (all runs): "
          + ", ".join(f"`{k}` ×{v}" for k, v in sorted(errs.items())) + "."
          + (" `DescribeOrganization` 400: the dispatching invocation asks whether there is an organization (to "
             "leave its management account out); the emulator has none, and a list of account ids needs none."
             if any(k.startswith("DescribeOrganization") for k in errs) else "")
          + (" `summaries/` 412: the items that end last each find every item ended and try to store the "
             "incident's summary with a write-once condition; S3 keeps the first and refuses the others, by "
             "design (one summary, one notification)." if any("/summaries/" in k and k.endswith("412") for k in errs)
             else ""))
        w("")
    p = org_params(org)
    if not p:
        return L
    w("#### A model of 1,000 and 10,000 accounts (a model, not a measurement)")
    w("")
    w(f"Inputs, measured in this run (the concurrency-{p['from_concurrency']} run, the least contended on "
      f"{cores} cores): a warm work item takes **{secs(p['t_item'])}** over the run (median; its account's "
      f"cut {secs(p['t_cut'])} after its start), the earliest warm items (the second round, the incident "
      f"still small) {secs(p['t_early'])}, a cold one {secs(p['t_cold'])}; per item "
      f"{p['iam_per_item']:.1f} IAM requests in its own account, {p['sts_per_item']:.2f} `AssumeRole` in the "
      f"responder account, {p['s3_per_item']:.1f} S3 requests, of which {p['lists_per_item']:.1f} list the "
      f"incident's evidence (a page: {secs(p['t_list'])}) and the rest are mostly reads of the reports the "
      f"incident already had ({p['report_reads']:,} in the run: {p['report_reads_per_prior']:.2f} of every "
      f"report stored before an item started; a read: {secs(p['t_get'])} in the earliest warm items' window, "
      f"{secs(p['t_get_median'])} over the run, moto's queue included); {p['objects_per_item']:.1f} "
      f"evidence objects stored an item; the dispatch answered in {secs(p['dispatch_s'])} "
      f"({secs(p['t_batch'])} a `SendMessageBatch`); `dispatch.json` holds "
      f"{p['dispatch_bytes_per_account']:.0f} bytes an account. Every time carries the proxy's "
      f"{a['latency_ms']:g} ms a request"
      + (f"; moto served {p['requests_per_s']:.0f} requests a second over the run." if p.get("requests_per_s")
         else "."))
    w("")
    w("The first-order formula: **wall time ≈ dispatch + ⌈accounts / concurrency⌉ × per-item time**, with "
      "concurrency bounded by:")
    w("")
    w(f"- Lambda's concurrency quota per Region, {LAMBDA_CONCURRENCY:,} by default, shared with every other "
      "function of the responder account in that Region (the dispatching invocation included); and the "
      f"mapping's `MaximumConcurrency`, 2 to {ESM_MAX_CONCURRENCY:,} (`WorkConcurrency` in the template, 10 by "
      "default).")
    w(f"- The mapping's scaling on a standard queue, as AWS documents it: {ESM_START} concurrent batches when "
      "messages arrive, then up to 300 more a minute. At 50 it takes about "
      f"{(50 - ESM_START) / ESM_RAMP_PER_S:.0f} s to reach full concurrency, at 1,000 about "
      f"{(1000 - ESM_START) / ESM_RAMP_PER_S / 60:.1f} minutes; the emulation above starts every worker at once, "
      "so its figures are what a mapping already scaled up would do."
      + (" AWS documents that rate for standard queues; for a FIFO queue it describes the order by message "
         "group, not a rate: the model applies the standard queue's scaling to it, an assumption."
         if p.get("fifo") else ""))
    w(f"- STS in the responder account: every work item's `AssumeRole` of the member role there. With "
      f"{p['sts_per_item']:.2f} a item, C items of {secs(p['t_item'])} at once ask "
      f"C × {p['sts_per_item']:.2f} / {p['t_item']:.2f} s requests a second; this model assumes a quota of "
      f"**{STS_RPS} requests a second** per account and Region (an assumption: not confirmed from AWS's "
      "documentation when this section was written) and stretches the item time where it would be passed.")
    w("- IAM: each work item's requests go to its own account, whose rate (not published by AWS, "
      f"{org.get('throttle_rate', a['throttle_rate']):g}/s in this bench) no other item shares: accounts do not "
      f"compete, and one item's {p['iam_per_item']:.0f} requests stay within one account's burst.")
    if p.get("fifo"):
        w(f"- SQS FIFO (the template's work queue): {FIFO_TPS} calls a second per action (`SendMessageBatch`, "
          "`ReceiveMessage`, `DeleteMessage`) without high-throughput mode, as AWS documents. 10,000 messages "
          f"are {math.ceil(10000 / SQS_BATCH):,} `SendMessageBatch` requests (eight at once from the dispatching "
          f"invocation: at least {math.ceil(10000 / SQS_BATCH) / FIFO_TPS:.1f} s at that rate); with "
          "`BatchSize` 1 the mapping makes a receive and a delete an item (as the emulation does; Lambda's "
          f"pollers may receive and delete up to 10 at a time), so the items cannot pass {FIFO_TPS} a second, "
          "whatever the concurrency. Each account is its own message group, so the order costs nothing here. "
          "High-throughput FIFO mode, or a standard queue, lifts the bound.")
    else:
        w("- SQS: a standard queue takes a nearly unlimited rate of calls; 10,000 messages are "
          f"{math.ceil(10000 / SQS_BATCH):,} `SendMessageBatch` requests, sent eight at once by the dispatching "
          "invocation; the in-flight messages never exceed the concurrency.")
    w(f"- S3, the term that grows: every work item lists the incident's evidence ({p['lists_per_item']:.1f} "
      "listings an item here: once before its first IAM write, the ledger, on the path to the cut; again when it "
      f"ends), {S3_PAGE:,} keys a page, one round trip a page, {p['objects_per_item']:.1f} objects added an "
      f"item: {math.ceil(10000 * p['objects_per_item'] / S3_PAGE)} pages a listing for the last items of "
      "10,000. "
      + (f"And it reads the report of every run the incident already has ({p['report_reads_per_prior']:.2f} of "
         f"every earlier report, measured), {REPORT_READS_AT_ONCE} at a time, beside its first writes (the "
         "ledger's prior cutoff for its principal): the last of 10,000 items reads about 10,000 reports, and the "
         "incident's items together read about half of 10,000² of them. Neither delays an item's own cut much "
         "(one listing does), but both hold its slot, so later accounts wait. "
         if p['report_reads_per_prior'] > 0.1 else
         f"Its reads of earlier reports are only the incident's own and its item's ({p['report_reads']:,} in the "
         "run): they do not grow with the accounts. The listings hold its slot, so later accounts wait. ")
      + "The model moves each item's time by these against the run's "
      "earliest warm items. `dispatch.json` (read by every item, twice) grows to "
      f"{10000 * p['dispatch_bytes_per_account'] / 1024 / 1024:.1f} MiB at 10,000 accounts, which the model "
      "does not price.")
    w("")
    w("| accounts | concurrency | ⌈accounts / C⌉ | the formula: dispatch + ⌈accounts / C⌉ × item | model: + cold "
      "starts, the growing evidence, the quotas (every account contained / drained) | + the mapping's documented scaling "
      "(contained / drained) | bound by a quota | longest item | S3 reads of the evidence (total; a second, "
      "average) |")
    w("|---|---|---|---|---|---|---|---|---|")
    checks = []
    for c in sorted(runs, key=int):
        m = org_model(n, int(c), p, ramp=False)
        checks.append((c, m, runs[c]))
    for accounts in (1000, 10000):
        for c in (10, 50, 1000):
            rounds = math.ceil(accounts / c)
            formula = org_dispatch_s(accounts, p) + rounds * p["t_item"]
            flat = org_model(accounts, c, p, ramp=False)
            ramped = org_model(accounts, c, p, ramp=True)
            w(f"| {accounts:,} | {c:,}" + (" (every unit of the default quota)" if c == 1000 else "") +
              f" | {rounds:,} | {span(formula)} | {span(flat['contain_s'])} / {span(flat['drained_s'])} | "
              f"{span(ramped['contain_s'])} / {span(ramped['drained_s'])} | {', '.join(ramped['bound']) or '—'} | "
              f"{span(ramped['longest_item_s'])}"
              + (" (past the 300 s timeout)" if ramped["longest_item_s"] > LAMBDA_TIMEOUT_S else "") + " | "
              f"{ramped['s3_reads']:,.0f}; {ramped['s3_rate']:,.0f}/s |")
    w("")
    if checks:
        w("The model against this run (the same model, no scaling ramp, as the emulation has none): "
          + "; ".join(f"concurrency {c}: model {span(m['contain_s'])} / {span(m['drained_s'])}, measured "
                      f"{span(r.get('contain_s'))} / {span(r.get('drained_s'))}" for c, m, r in checks)
          + ". The model prices S3 at its early reads; where the measurement is slower, the time went to "
          "this machine: " + "; ".join(cpu_line(c, r) for c, _, r in checks) + ". moto is one Python process, "
          f"which holds one core at most; the {cores} cores are shared by everything.")
        w("")
    grows = ("reads of the incident's earlier reports and listings of the evidence grow"
             if p["report_reads_per_prior"] > 0.1 else
             "listings of the evidence grow (a page per 1,000 keys; its reads of earlier reports do not, "
             "as measured)")
    w("Reading it: the formula (a fixed item time) holds only while the incident is small. Each item's "
      f"{grows} with the items before it, so the item time grows with the accounts and the S3 reads with "
      "their square; past a few hundred accounts that, not the concurrency, sets the time, and at the "
      "quota's concurrency the mapping's documented scaling adds its minutes. The last column sets the reads against S3's documented "
      f"{S3_GET_PER_PREFIX:,} GET/HEAD requests a second per partitioned prefix (the incident's items share "
      "one prefix; S3 answers `503 Slow Down` past it until it partitions), which the model does not enforce; "
      "an item longer than the function's 300 s timeout would not finish at all and would come back after the "
      "visibility timeout, which the model does not follow either.")
    w("")
    w("What the model leaves out: Lambda's own invoke overhead and cold starts on AWS's hardware (measured here "
      "on this machine); each request's latency on AWS (every figure here carries the proxy's "
      f"{a['latency_ms']:g} ms); IAM's eventual consistency (the policy is in force seconds after "
      "`PutRolePolicy` answers, in every account alike); throttling retries; other functions using the "
      "Region's concurrency.")
    w("")
    return L


def moto_busy(r) -> float | None:
    """The share of one core moto used over a run."""
    cpu = r.get("cpu_s") or {}
    return cpu["moto"] / cpu["wall"] if cpu.get("moto") is not None and cpu.get("wall") else None


def cpu_line(c, r) -> str:
    """Where one run's CPU went."""
    cpu = r.get("cpu_s") or {}
    wall = cpu.get("wall")
    if not wall or cpu.get("moto") is None:
        return f"concurrency {c}: —"
    return (f"at {c}, over {span(wall)}, moto used {cpu['moto']:.0f} CPU-seconds ({cpu['moto'] / wall:.0%} of a "
            f"core), the bench's own process (proxy, workers) {cpu['bench']:.1f}, the `contain` processes "
            f"{cpu['functions']:.1f}; moto served {r.get('requests_per_s') or 0:.0f} requests a second")


def span(x):
    """A modelled duration: seconds, minutes past 2 minutes, hours past 2 hours."""
    if x is None:
        return "—"
    if x >= 7200:
        return f"{x / 3600:.1f} h"
    if x >= 120:
        return f"{x / 60:.1f} min"
    return secs(x)


def fmtn(x):
    return "—" if x is None else f"{x:g}"


def fmtx(x):
    return "—" if x is None else f"{x:.1f}×"


def fmtms(x):
    return "—" if x is None else f"{x * 1000:.1f} ms"


def fmtkb(x):
    return "—" if x is None else f"{x / 1024:.1f} MiB"


def verdict(warm, cold):
    if warm and cold:
        return "**met**"
    if warm:
        return "**met** warm, **missed** cold"
    if cold:
        return "**met** cold, **missed** warm"
    return "**missed**"


def max_or_none(values):
    values = [v for v in values if v is not None]
    return max(values) if values else None


def pct(x):
    return "—" if x is None else f"{x * 100:.0f}%"


def yes(b):
    return "**met**" if b else "**missed**"


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    results = json.loads((here / "out" / "results.json").read_text())
    text, failures = render(results)
    (here.parent / "BENCHMARKS.md").write_text(text)
    print("\n".join(failures))
    sys.exit(1 if failures else 0)
