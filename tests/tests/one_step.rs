//! The one-step functions for the console: each does its one step (and the incident tag) and
//! nothing else; `snapshot` writes nothing to IAM at all.

use aws_sdk_iam::types::StatusType;
use harness::{Moto, evidence_keys, key_statuses, seed_role, seed_user, user_state};
use serde_json::{Value, json};
use tourniquet_aws::Playbook;
use tourniquet_aws::report::Status;

fn inline_names(state: &Value) -> Vec<String> {
    state["inline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap().to_owned())
        .collect()
}

fn request_for(arn: &str, key: &str) -> Value {
    json!({"principal_arn": arn, "access_key_id": key, "incident_id": "IR-2026-0050"})
}

#[tokio::test]
async fn snapshot_captures_evidence_and_changes_nothing_in_iam() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let before = user_state(&iam, &user.name).await;
    let responder = moto.responder(&[]).await.playing(Playbook::Snapshot);

    let report = responder
        .handle(request_for(&user.arn, &user.keys[0]))
        .await
        .expect("captured");

    assert_eq!(report.status, Status::Captured);
    assert!(report.targets[0].steps.is_empty());
    assert_eq!(
        user_state(&iam, &user.name).await,
        before,
        "no IAM write, not even a tag"
    );
    let stored = evidence_keys(&moto.s3().await).await;
    assert!(
        stored
            .iter()
            .any(|k| k.ends_with("/user/ci-deployer/snapshot.json")),
        "{stored:?}"
    );
}

#[tokio::test]
async fn deactivate_access_keys_deactivates_every_key_and_nothing_else() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let responder = moto
        .responder(&[])
        .await
        .playing(Playbook::DeactivateAccessKeys);

    let report = responder
        .handle(request_for(&user.arn, &user.keys[0]))
        .await
        .expect("deactivated");

    assert_eq!(report.status, Status::Contained);
    let keys = key_statuses(&iam, &user.name).await;
    assert!(
        keys.iter().all(|(_, s)| *s == StatusType::Inactive),
        "{keys:?}"
    );
    let state = user_state(&iam, &user.name).await;
    assert_eq!(
        inline_names(&state),
        ["deploy-everything"],
        "no policy added"
    );
}

#[tokio::test]
async fn attach_deny_all_denies_a_user_and_leaves_its_keys() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let responder = moto.responder(&[]).await.playing(Playbook::AttachDenyAll);

    responder
        .handle(request_for(&user.arn, &user.keys[0]))
        .await
        .expect("denied");

    let state = user_state(&iam, &user.name).await;
    assert_eq!(
        inline_names(&state),
        ["deploy-everything", "TourniquetDenyAll"]
    );
    let keys = key_statuses(&iam, &user.name).await;
    assert!(
        keys.iter().all(|(_, s)| *s == StatusType::Active),
        "{keys:?}"
    );
}

#[tokio::test]
async fn attach_deny_all_on_a_role_is_explicit_and_applied() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let role = seed_role(&iam, "app-worker", "/").await;
    let responder = moto.responder(&[]).await.playing(Playbook::AttachDenyAll);

    responder
        .handle(json!({"principal_arn": role.arn, "incident_id": "IR-2026-0051"}))
        .await
        .expect("denied");

    let state = harness::role_state(&iam, &role.name).await;
    assert_eq!(inline_names(&state), ["read-secrets", "TourniquetDenyAll"]);
}

#[tokio::test]
async fn revoke_sessions_puts_only_the_cutoff_policy() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let role = seed_role(&iam, "app-worker", "/").await;
    let responder = moto.responder(&[]).await.playing(Playbook::RevokeSessions);

    for arn in [&user.arn, &role.arn] {
        let report = responder
            .handle(json!({"principal_arn": arn, "incident_id": "IR-2026-0052"}))
            .await
            .expect("revoked");
        assert_eq!(report.status, Status::Contained, "{arn}");
    }

    let state = user_state(&iam, &user.name).await;
    assert_eq!(
        inline_names(&state),
        ["deploy-everything", "TourniquetRevokeOlderSessions"]
    );
    assert!(harness::cutoff_in(&state).is_some());
    let keys = key_statuses(&iam, &user.name).await;
    assert!(keys.iter().all(|(_, s)| *s == StatusType::Active));
    let state = harness::role_state(&iam, &role.name).await;
    assert_eq!(
        inline_names(&state),
        ["read-secrets", "TourniquetRevokeOlderSessions"]
    );
}

#[tokio::test]
async fn deactivate_access_keys_on_a_role_is_refused_with_what_to_use_instead() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let role = seed_role(&iam, "app-worker", "/").await;
    let before = harness::role_state(&iam, &role.name).await;
    let responder = moto
        .responder(&[])
        .await
        .playing(Playbook::DeactivateAccessKeys);

    let report = responder
        .handle(json!({"principal_arn": role.arn}))
        .await
        .expect("refusal is not an error");

    assert_eq!(report.status, Status::Refused);
    assert!(
        report.targets[0]
            .message
            .as_deref()
            .unwrap()
            .contains("revoke-sessions")
    );
    assert_eq!(harness::role_state(&iam, &role.name).await, before);
}
