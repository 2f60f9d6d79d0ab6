//! Release against moto: contain, then release, and the principal is as its snapshot showed it,
//! but for the documented residue (the session cutoff policy, the release tags).

use aws_sdk_iam::types::StatusType;
use harness::{
    Moto, SeededUser, guardduty_finding, key_statuses, role_state, seed_role, seed_user, user_state,
};
use serde_json::{Value, json};
use tourniquet_aws::Playbook;
use tourniquet_aws::plan::{REVOKE_POLICY_NAME, SESSION_CUTOFF_TAG};
use tourniquet_aws::report::{Outcome, Status};

const INCIDENT: &str = "guardduty-5ac6e0f1b2c34d5e6f708192a3b4c5d6";

/// The state after a release, less the documented residue, to compare with the state before.
fn without_residue(mut state: Value) -> Value {
    let inline = state["inline"].as_array_mut().unwrap();
    inline.retain(|p| p[0] != REVOKE_POLICY_NAME);
    let tags = state["tags"].as_array_mut().unwrap();
    tags.retain(|t| {
        let key = t[0].as_str().unwrap();
        key != SESSION_CUTOFF_TAG && !key.starts_with("tourniquet:released")
    });
    state
}

fn release_request(arn: &str, extra: Value) -> Value {
    let mut request = json!({"principal_arn": arn, "incident_id": INCIDENT});
    for (k, v) in extra.as_object().unwrap() {
        request[k] = v.clone();
    }
    request
}

#[tokio::test]
async fn contain_then_release_returns_the_user_to_its_snapshot_but_the_residue() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let mut before = user_state(&iam, &user.name).await;
    let contain = moto.responder(&[]).await;
    contain
        .handle(guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("contained");
    let release = moto.responder(&[]).await.playing(Playbook::Release);

    let report = release
        .handle(release_request(
            &user.arn,
            json!({"reason": "key rotated, investigation closed"}),
        ))
        .await
        .expect("released");

    assert_eq!(report.status, Status::Released, "{report:?}");
    let after = user_state(&iam, &user.name).await;
    // No key comes back unless the request lists it: both stay inactive, to be rotated.
    let keys = key_statuses(&iam, &user.name).await;
    assert_eq!(
        keys,
        [
            (user.keys[0].clone(), StatusType::Inactive),
            (user.keys[1].clone(), StatusType::Inactive)
        ]
    );
    before["keys"][0][1] = "Inactive".into();
    before["keys"][1][1] = "Inactive".into();
    assert_eq!(without_residue(after.clone()), before);
    // The residue: the session cutoff stays, and the release is recorded.
    assert!(
        harness::cutoff_in(&after).is_some(),
        "sessions issued before the containment stay dead"
    );
    let tags = after["tags"].as_array().unwrap();
    assert!(
        tags.contains(&json!(["tourniquet:released-incident", INCIDENT])),
        "{tags:?}"
    );
    let actions: Vec<(&str, Outcome)> = report.targets[0]
        .steps
        .iter()
        .map(|s| (s.action.as_str(), s.outcome))
        .collect();
    assert_eq!(
        actions,
        [
            ("untag_principal", Outcome::Applied),
            ("keep_access_key_inactive", Outcome::AlreadyInPlace),
            ("keep_access_key_inactive", Outcome::AlreadyInPlace),
            ("keep_session_cutoff", Outcome::AlreadyInPlace),
            ("remove_deny_all", Outcome::Applied),
            ("tag_released", Outcome::Applied),
        ]
    );
    let stored: Vec<&str> = report
        .evidence
        .iter()
        .map(|e| e.key.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        stored,
        [
            "event.json",
            "released.json",
            "snapshot.json",
            "plan.json",
            "report.json",
            "manifest.json"
        ]
    );
}

#[tokio::test]
async fn a_key_listed_in_the_request_is_reactivated_and_a_replayed_release_changes_nothing() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    moto.responder(&[])
        .await
        .handle(guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("contained");
    let release = moto.responder(&[]).await.playing(Playbook::Release);
    let request = release_request(
        &user.arn,
        json!({"reactivate_access_keys": [user.keys[0], user.keys[1]]}),
    );

    release.handle(request.clone()).await.expect("released");
    let after = user_state(&iam, &user.name).await;
    let replay = release.handle(request).await.expect("replayed");

    assert!(
        key_statuses(&iam, &user.name)
            .await
            .iter()
            .all(|(_, s)| *s == StatusType::Active)
    );
    assert!(
        replay.targets[0]
            .steps
            .iter()
            .all(|s| s.outcome == Outcome::AlreadyInPlace),
        "{:?}",
        replay.targets[0].steps
    );
    assert_eq!(user_state(&iam, &user.name).await, after);
}

#[tokio::test]
async fn a_deny_replaced_by_hand_is_drift_that_stops_the_release_unless_forced() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    moto.responder(&[])
        .await
        .handle(guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("contained");
    iam.put_user_policy()
        .user_name(&user.name)
        .policy_name("TourniquetDenyAll")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let drifted = user_state(&iam, &user.name).await;
    let release = moto.responder(&[]).await.playing(Playbook::Release);

    let refused = release
        .handle(release_request(&user.arn, json!({})))
        .await
        .expect("refusal is not an error");

    assert_eq!(refused.status, Status::Refused);
    let message = refused.targets[0].message.as_deref().unwrap();
    assert!(
        message.contains("changed by hand") && message.contains("force"),
        "{message}"
    );
    assert_eq!(
        user_state(&iam, &user.name).await,
        drifted,
        "nothing written before the drift was reported"
    );

    let forced = release
        .handle(release_request(&user.arn, json!({"force": true})))
        .await
        .expect("forced");

    assert_eq!(forced.status, Status::Released);
    let after = user_state(&iam, &user.name).await;
    let names: Vec<&str> = after["inline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"TourniquetDenyAll"),
        "the hand-made policy is not Tourniquet's to remove: {names:?}"
    );
    assert_eq!(
        key_statuses(&iam, &user.name).await[1].1,
        StatusType::Inactive,
        "not listed: stays inactive"
    );
}

/// Rewrites the containment's stored report so that its deny step names `policy`, as someone
/// with write access to the bucket could (the bucket policy in template.yaml denies that).
async fn forge_ledger(moto: &Moto, policy: &str) {
    let s3 = moto.s3().await;
    let key = harness::evidence_keys(&s3)
        .await
        .into_iter()
        .find(|k| k.ends_with("/report.json"))
        .unwrap();
    let mut report: Value =
        serde_json::from_slice(&harness::evidence_body(&s3, &key).await).unwrap();
    for step in report["targets"][0]["steps"].as_array_mut().unwrap() {
        if step["action"] == "attach_deny_all" {
            step["target"] = policy.into();
            step["policy"] = policy.into();
            step["detail"] =
                format!("{policy}, as rewritten by whoever could write the bucket").into();
        }
    }
    // Not through evidence::put: an attacker's plain overwrite, which moto allows.
    s3.put_object()
        .bucket(harness::BUCKET)
        .key(&key)
        .body(serde_json::to_vec_pretty(&report).unwrap().into())
        .send()
        .await
        .unwrap();
}

/// Contains `user`, rewrites the ledger's deny step to name `policy`, and asks for a forced
/// release: it must be refused with nothing written. Returns the refusal's message.
async fn forced_release_of_a_forged_ledger(moto: &Moto, user: &SeededUser, policy: &str) -> String {
    let iam = moto.iam().await;
    moto.responder(&[])
        .await
        .handle(guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("contained");
    forge_ledger(moto, policy).await;
    let before = user_state(&iam, &user.name).await;
    let release = moto.responder(&[]).await.playing(Playbook::Release);

    let report = release
        .handle(release_request(&user.arn, json!({"force": true})))
        .await
        .expect("a refusal");

    assert_eq!(report.status, Status::Refused, "{report:?}");
    assert_eq!(
        user_state(&iam, &user.name).await,
        before,
        "nothing written"
    );
    report.targets[0].message.clone().unwrap_or_default()
}

#[tokio::test]
async fn a_forged_ledger_naming_a_customers_policy_is_refused_even_when_forced() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    // The customer's own guardrail, which a forged ledger would have release delete.
    iam.put_user_policy()
        .user_name(&user.name)
        .policy_name("DenyProductionData")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();

    let message = forced_release_of_a_forged_ledger(&moto, &user, "DenyProductionData").await;

    assert!(
        message.contains("DenyProductionData") && message.contains("not Tourniquet's record"),
        "{message}"
    );
}

#[tokio::test]
async fn a_release_without_a_ledger_is_refused_and_changes_nothing() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let before = user_state(&iam, &user.name).await;
    let release = moto.responder(&[]).await.playing(Playbook::Release);

    let report = release
        .handle(release_request(&user.arn, json!({})))
        .await
        .expect("refusal is not an error");

    assert_eq!(report.status, Status::Refused);
    assert!(
        report.targets[0]
            .message
            .as_deref()
            .unwrap()
            .contains("no ledger"),
        "{:?}",
        report.targets[0].message
    );
    assert_eq!(user_state(&iam, &user.name).await, before);
}

#[tokio::test]
async fn aws_quarantine_policies_are_never_detached() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    moto.responder(&[])
        .await
        .handle(guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("contained");
    let quarantine = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV2";
    iam.attach_user_policy()
        .user_name(&user.name)
        .policy_arn(quarantine)
        .send()
        .await
        .unwrap();
    let release = moto.responder(&[]).await.playing(Playbook::Release);

    let report = release
        .handle(release_request(&user.arn, json!({})))
        .await
        .expect("released");

    let attached = user_state(&iam, &user.name).await["attached"].clone();
    assert!(
        attached.as_array().unwrap().contains(&json!(quarantine)),
        "{attached}"
    );
    let kept = report.targets[0]
        .steps
        .iter()
        .find(|s| s.action.as_str() == "keep_aws_quarantine")
        .expect("reported");
    assert_eq!(kept.target, quarantine);
}

#[tokio::test]
async fn a_role_release_keeps_its_session_cutoff() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let role = seed_role(&iam, "app-worker", "/service/").await;
    let mut finding = harness::event("guardduty-assumed-role.json");
    finding["detail"]["resource"]["accessKeyDetails"]["userName"] = role.name.clone().into();
    let contained = moto
        .responder(&[])
        .await
        .handle(finding)
        .await
        .expect("contained");
    let release = moto.responder(&[]).await.playing(Playbook::Release);
    let request = json!({"principal_arn": role.arn, "incident_id": contained.incident_id});

    let report = release.handle(request).await.expect("released");

    assert_eq!(report.status, Status::Released);
    let state = role_state(&iam, &role.name).await;
    assert!(harness::cutoff_in(&state).is_some());
    let tags = state["tags"].as_array().unwrap();
    assert!(
        !tags.iter().any(|t| t[0] == "tourniquet:incident"),
        "{tags:?}"
    );
}

#[tokio::test]
async fn bad_release_requests_name_the_field() {
    let moto = Moto::start();
    let release = moto.responder(&[]).await.playing(Playbook::Release);
    for (request, field) in [
        (json!({"incident_id": INCIDENT}), "principal_arn"),
        (
            json!({"principal_arn": "arn:aws:iam::111122223333:user/ci-deployer"}),
            "incident_id",
        ),
        (
            json!({"principal_arn": "arn:aws:iam::111122223333:user/ci-deployer", "incident_id": INCIDENT, "reactivate_access_keys": ["nope"]}),
            "reactivate_access_keys[0]",
        ),
        (
            json!({"principal_arn": "arn:aws:iam::111122223333:user/ci-deployer", "incident_id": INCIDENT, "forse": true}),
            "forse",
        ),
    ] {
        let err = release
            .handle(request.clone())
            .await
            .expect_err(&request.to_string());
        assert_eq!(err.error_type(), "InvalidEvent");
        assert!(
            err.to_string().contains(&format!("`{field}`")),
            "{request}: {err}"
        );
    }
}

#[tokio::test]
async fn a_ledger_altered_since_its_manifest_is_refused_even_when_forced() {
    let moto = Moto::start();
    let user = seed_user(&moto.iam().await, "ci-deployer").await;

    // Tourniquet's own policy name, but the bytes no longer match the manifest.
    let message = forced_release_of_a_forged_ledger(&moto, &user, "TourniquetDenyAll").await;

    assert!(message.contains("does not verify"), "{message}");
}
