//! A compromised IAM user contained end to end against the moto emulator, read back through a
//! second client. Run with `make test` (it creates the virtualenv with moto).

use aws_sdk_iam::types::StatusType;
use harness::{
    BUCKET, Moto, evidence_body, evidence_keys, guardduty_finding, key_statuses, seed_user,
    user_state,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tourniquet_aws::plan::{DENY_POLICY_NAME, INCIDENT_TAG, REVOKE_POLICY_NAME};
use tourniquet_aws::report::{Outcome, Status};

#[tokio::test]
async fn guardduty_finding_contains_the_user_and_stores_hashed_evidence() {
    // GIVEN a user with two active keys, one of them named in a GuardDuty finding
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let responder = moto.responder(&[]).await;

    // WHEN contain handles the finding
    let report = responder
        .handle(guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("contained");

    // THEN every key is Inactive (none deleted), the deny-all is on the user, and it is tagged
    assert_eq!(report.status, Status::Contained);
    let keys = key_statuses(&iam, &user.name).await;
    assert_eq!(keys.len(), 2, "no key was deleted");
    assert!(
        keys.iter().all(|(_, s)| *s == StatusType::Inactive),
        "{keys:?}"
    );
    let deny = iam
        .get_user_policy()
        .user_name(&user.name)
        .policy_name(DENY_POLICY_NAME)
        .send()
        .await
        .expect("deny policy present");
    let document = tourniquet_aws::snapshot::decode_policy(&deny.policy_document).unwrap();
    assert_eq!(document["Statement"][0]["Effect"], "Deny");
    assert_eq!(document["Statement"][0]["Action"], "*");
    assert_eq!(document["Statement"][0]["Resource"], "*");
    // AND sessions issued before the containment (GetSessionToken) are denied, cutoff in UTC
    let revoke = iam
        .get_user_policy()
        .user_name(&user.name)
        .policy_name(REVOKE_POLICY_NAME)
        .send()
        .await
        .expect("revoke-sessions policy present");
    let revoke = tourniquet_aws::snapshot::decode_policy(&revoke.policy_document).unwrap();
    let cutoff = revoke["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        .as_str()
        .expect("a TokenIssueTime cutoff");
    assert!(cutoff.ends_with('Z') && cutoff.len() == 20, "{cutoff}");
    assert_eq!(revoke["Statement"][0]["Effect"], "Deny");
    let state = user_state(&iam, &user.name).await;
    let incident = "guardduty-5ac6e0f1b2c34d5e6f708192a3b4c5d6";
    assert!(
        state["tags"]
            .as_array()
            .unwrap()
            .contains(&json!([INCIDENT_TAG, incident]))
    );
    assert_eq!(
        state["login_profile"], true,
        "the login profile is never deleted"
    );

    // AND the report has every step, the critical ones first
    assert_eq!(report.incident_id, incident);
    assert_eq!(
        report.targets[0].principal_arn, user.arn,
        "the ARN carries the user's path"
    );
    let steps: Vec<(&str, &str, Outcome)> = harness::steps(&report.targets[0])
        .map(|s| (s.action.as_str(), s.target.as_str(), s.outcome))
        .collect();
    assert_eq!(
        steps,
        [
            ("attach_deny_all", DENY_POLICY_NAME, Outcome::Applied),
            ("revoke_sessions", REVOKE_POLICY_NAME, Outcome::Applied),
            (
                "deactivate_access_key",
                user.keys[0].as_str(),
                Outcome::Applied
            ),
            (
                "deactivate_access_key",
                user.keys[1].as_str(),
                Outcome::Applied
            ),
            (
                "tag_principal",
                &*format!("{INCIDENT_TAG}={incident}"),
                Outcome::Applied
            ),
        ]
    );
    // the identity lookup (first call only), the ledger's listing and the intent, together; wave 1
    // (critical writes + lists), wave 2 (details, other writes, GetPolicy), wave 3 (managed
    // policies' default versions), the evidence, then the manifest with the objects' versions
    assert_eq!(report.waves, 6);

    // AND the evidence objects exist with the SHA-256 the report gives
    let s3 = moto.s3().await;
    let stored = evidence_keys(&s3).await;
    let names: Vec<&str> = report
        .evidence
        .iter()
        .map(|e| e.key.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "intent.json",
            "event.json",
            "snapshot.json",
            "plan.json",
            "report.json",
            "manifest.json"
        ],
        "the intent, written before the first IAM write, then the rest"
    );
    for evidence in &report.evidence {
        assert!(
            stored.contains(&evidence.key),
            "{} missing from {stored:?}",
            evidence.key
        );
        let body = evidence_body(&s3, &evidence.key).await;
        assert_eq!(
            hex::encode(Sha256::digest(&body)),
            evidence.sha256,
            "{}",
            evidence.key
        );
    }

    // AND the snapshot is the before-state: both keys Active, the user's own policies, no deny
    let snapshot_key = report
        .evidence
        .iter()
        .find(|e| e.key.ends_with("snapshot.json"))
        .unwrap();
    assert!(
        snapshot_key
            .key
            .starts_with(&format!("incidents/{incident}/"))
    );
    assert!(
        snapshot_key
            .key
            .ends_with("/111122223333/user/ci-deployer/snapshot.json")
    );
    let snapshot: Value =
        serde_json::from_slice(&evidence_body(&s3, &snapshot_key.key).await).unwrap();
    assert_eq!(snapshot["user"]["arn"], user.arn);
    let other_key = snapshot["access_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["access_key_id"] == user.keys[1].as_str())
        .unwrap();
    assert_eq!(
        other_key["status"], "Active",
        "read before its deactivation"
    );
    assert_eq!(snapshot["access_keys"].as_array().unwrap().len(), 2);
    assert_eq!(snapshot["inline_policies"][0]["name"], "deploy-everything");
    assert_eq!(
        snapshot["inline_policies"][0]["document"]["Statement"][0]["Action"],
        "*"
    );
    assert_eq!(
        snapshot["inline_policies"].as_array().unwrap().len(),
        1,
        "Tourniquet's own policies are left out"
    );
    assert_eq!(
        snapshot["attached_policies"][0]["arn"],
        "arn:aws:iam::aws:policy/ReadOnlyAccess"
    );
    let managed = iam
        .get_policy_version()
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .version_id(
            snapshot["attached_policies"][0]["default_version"]["version_id"]
                .as_str()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .policy_version
        .unwrap();
    assert!(managed.is_default_version);
    assert_eq!(
        snapshot["attached_policies"][0]["default_version"]["document"],
        tourniquet_aws::snapshot::decode_policy(managed.document.as_deref().unwrap()).unwrap(),
        "the managed policy's default document, as a second client reads it"
    );
    assert_eq!(snapshot["groups"][0]["name"], "ci-deployer-deployers");
    assert_eq!(snapshot["login_profile"]["password_reset_required"], false);
    assert_eq!(snapshot["mfa_devices"].as_array().unwrap().len(), 1);
    assert_eq!(
        snapshot["tags"],
        json!([{"key": "team", "value": "platform"}])
    );
    let event_key = report
        .evidence
        .iter()
        .find(|e| e.key.ends_with("event.json"))
        .unwrap();
    let event: Value = serde_json::from_slice(&evidence_body(&s3, &event_key.key).await).unwrap();
    assert_eq!(
        event["detail"]["resource"]["accessKeyDetails"]["accessKeyId"],
        user.keys[0].as_str()
    );
    let _ = BUCKET;
}

/// A manual request for `user` naming `key`, with `extra` fields merged in.
fn manual(user: &harness::SeededUser, extra: Value) -> Value {
    let mut request = harness::event("manual-user.json");
    request["principal_arn"] = user.arn.clone().into();
    request["access_key_id"] = user.keys[0].clone().into();
    for (k, v) in extra.as_object().unwrap() {
        request[k] = v.clone();
    }
    request
}

#[tokio::test]
async fn a_dry_run_reports_the_real_plan_and_writes_nothing_anywhere() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let s3 = moto.s3().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let before = user_state(&iam, &user.name).await;

    for (responder, request) in [
        // asked for by the request ...
        (
            moto.responder(&[]).await,
            manual(&user, json!({"dry_run": true})),
        ),
        // ... or by the function's configuration
        (
            moto.responder(&[("DRY_RUN", "true")]).await,
            manual(&user, json!({"dry_run": false})),
        ),
    ] {
        let report = responder.handle(request).await.expect("planned");
        assert_eq!(report.status, Status::Planned);
        assert!(report.dry_run);
        let outcomes: Vec<(&str, Outcome)> = harness::steps(&report.targets[0])
            .map(|s| (s.action.as_str(), s.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("attach_deny_all", Outcome::Planned),
                ("revoke_sessions", Outcome::Planned),
                ("deactivate_access_key", Outcome::Planned),
                ("deactivate_access_key", Outcome::Planned),
                ("tag_principal", Outcome::Planned),
            ]
        );
        assert!(report.evidence.is_empty());
    }
    assert_eq!(user_state(&iam, &user.name).await, before, "IAM unchanged");
    assert!(evidence_keys(&s3).await.is_empty(), "nothing written to S3");
}

#[tokio::test]
async fn a_replayed_finding_changes_nothing_and_reports_already_in_place() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let s3 = moto.s3().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let later = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let offset = later.clone();
    // The responder's clock, which the test moves on instead of sleeping.
    let responder = moto.responder(&[]).await.with_clock(move || {
        chrono::Utc::now()
            + chrono::TimeDelta::milliseconds(offset.load(std::sync::atomic::Ordering::SeqCst))
    });
    let finding = guardduty_finding(&user.name, &user.keys[0]);

    let first = responder.handle(finding.clone()).await.expect("contained");
    let after_first = user_state(&iam, &user.name).await;
    let mut first_objects = Vec::new();
    for e in &first.evidence {
        first_objects.push((e.key.clone(), evidence_body(&s3, &e.key).await));
    }
    later.store(1_000, std::sync::atomic::Ordering::SeqCst);

    let replay = responder.handle(finding).await.expect("replayed");

    assert_eq!(replay.status, Status::Contained);
    assert_eq!(replay.incident_id, first.incident_id);
    for step in harness::steps(&replay.targets[0]) {
        assert_eq!(step.outcome, Outcome::AlreadyInPlace, "{step:?}");
    }
    assert_eq!(
        user_state(&iam, &user.name).await,
        after_first,
        "the replay changed IAM"
    );
    for (key, body) in first_objects {
        assert_eq!(
            evidence_body(&s3, &key).await,
            body,
            "{key} was overwritten"
        );
    }
    let all = evidence_keys(&s3).await;
    assert_eq!(
        all.len(),
        12,
        "the replay's evidence is added beside the first run's: {all:?}"
    );
}

#[tokio::test]
async fn protected_principals_are_refused_and_left_untouched() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let s3 = moto.s3().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let before = user_state(&iam, &user.name).await;

    // The seeded user lives on path /ci/; GuardDuty names it without its path, so the
    // path pattern makes the responder read the path before it decides.
    for pattern in [
        "arn:aws:iam::*:user/ci-*",
        "arn:aws:iam::111122223333:user/ci/*",
    ] {
        let responder = moto.responder(&[("PROTECTED_PRINCIPALS", pattern)]).await;
        let report = responder
            .handle(guardduty_finding(&user.name, &user.keys[0]))
            .await
            .expect("refusal is not an error");
        assert_eq!(report.status, Status::Refused, "{pattern}");
        let message = report.targets[0].message.as_deref().unwrap();
        assert!(message.contains(pattern), "{message}");
        assert!(report.targets[0].steps.is_empty());
    }
    assert_eq!(user_state(&iam, &user.name).await, before);
    // A refusal still leaves evidence of the event, but no snapshot (nothing was read).
    assert!(
        evidence_keys(&s3)
            .await
            .iter()
            .all(|k| !k.ends_with("snapshot.json"))
    );
}

#[tokio::test]
async fn the_responder_never_contains_its_own_identity() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    // The emulator's default caller is the user `moto`.
    let me = seed_user(&iam, "moto").await;
    let before = user_state(&iam, "moto").await;
    let responder = moto.responder(&[]).await;

    let report = responder
        .handle(guardduty_finding("moto", &me.keys[0]))
        .await
        .expect("refusal is not an error");

    assert_eq!(report.status, Status::Refused);
    assert!(
        report.targets[0]
            .message
            .as_deref()
            .unwrap()
            .contains("own identity")
    );
    assert_eq!(user_state(&iam, "moto").await, before);
}

#[tokio::test]
async fn root_is_refused_with_what_a_human_must_do() {
    let moto = Moto::start();
    let responder = moto.responder(&[]).await;

    let report = responder
        .handle(harness::event("manual-root.json"))
        .await
        .expect("refusal is not an error");

    assert_eq!(report.status, Status::Refused);
    assert_eq!(
        report.targets[0].principal_arn,
        "arn:aws:iam::111122223333:root"
    );
    let message = report.targets[0].message.as_deref().unwrap();
    assert!(
        message.contains("cannot restrict the root user") && message.contains("rotate"),
        "{message}"
    );
}

#[tokio::test]
async fn a_request_with_only_a_key_finds_and_contains_its_owner() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let responder = moto.responder(&[]).await;
    let mut request = harness::event("manual-key-only.json");
    request["access_key_id"] = user.keys[1].clone().into();

    let report = responder.handle(request).await.expect("contained");

    assert_eq!(report.status, Status::Contained);
    assert_eq!(report.incident_id, "IR-2026-0043");
    assert_eq!(report.targets[0].principal_arn, user.arn);
    assert!(
        key_statuses(&iam, &user.name)
            .await
            .iter()
            .all(|(_, s)| *s == StatusType::Inactive)
    );
}

#[tokio::test]
async fn a_key_nobody_owns_is_a_failure_that_changes_nothing() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let before = user_state(&iam, &user.name).await;
    let responder = moto.responder(&[]).await;

    let err = responder
        .handle(harness::event("manual-key-only.json"))
        .await
        .expect_err("an unknown key cannot be contained");

    assert!(matches!(err, tourniquet_aws::Error::Partial { .. }));
    assert!(err.to_string().contains("AKIAEXAMPLECOMPROM01"), "{err}");
    assert_eq!(user_state(&iam, &user.name).await, before);
}

#[tokio::test]
async fn malformed_and_ignored_events_change_nothing() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let s3 = moto.s3().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let before = user_state(&iam, &user.name).await;
    let responder = moto.responder(&[]).await;

    let err = responder
        .handle(harness::event(
            "malformed-guardduty-missing-access-key.json",
        ))
        .await
        .expect_err("malformed");
    assert_eq!(err.error_type(), "InvalidEvent");
    assert!(
        err.to_string().contains("detail.resource.accessKeyDetails"),
        "{err}"
    );

    let typo = json!({"principal_arm": user.arn});
    let err = responder.handle(typo).await.expect_err("typo");
    assert!(err.to_string().contains("principal_arm"), "{err}");

    for ignored in [
        "guardduty-iam-user-sample.json",
        "guardduty-iam-user-archived.json",
        "ec2-state-change.json",
    ] {
        let report = responder
            .handle(harness::event(ignored))
            .await
            .expect(ignored);
        assert_eq!(report.status, Status::Ignored, "{ignored}");
        assert!(report.message.is_some());
    }

    assert_eq!(user_state(&iam, &user.name).await, before);
    assert!(evidence_keys(&s3).await.is_empty());
}
