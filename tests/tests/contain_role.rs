//! Roles against moto: older sessions revoked with a cutoff a replay keeps, the deny-all only when
//! configured, and the roles IAM cannot contain refused.

use harness::{Moto, cutoff_in, evidence_body, role_state, seed_role};
use serde_json::{Value, json};
use tourniquet_aws::plan::REVOKE_POLICY_NAME;
use tourniquet_aws::report::{Outcome, Status};

fn finding_for(role: &str) -> Value {
    let mut event = harness::event("guardduty-assumed-role.json");
    event["detail"]["resource"]["accessKeyDetails"]["userName"] = role.into();
    event
}

#[tokio::test]
async fn a_stolen_instance_role_session_is_revoked_and_the_workload_keeps_working() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let role = seed_role(&iam, "app-worker", "/service/").await;
    let responder = moto.responder(&[]).await;
    let before = chrono::Utc::now();

    let report = responder
        .handle(finding_for(&role.name))
        .await
        .expect("contained");

    assert_eq!(report.status, Status::Contained);
    assert_eq!(report.targets[0].principal_arn, role.arn);
    let steps: Vec<(&str, Outcome)> = report.targets[0]
        .steps
        .iter()
        .map(|s| (s.action.as_str(), s.outcome))
        .collect();
    assert_eq!(
        steps,
        [
            ("revoke_sessions", Outcome::Applied),
            ("deactivate_access_key", Outcome::Skipped),
            ("tag_principal", Outcome::Applied),
        ],
        "no deny-all on a role unless configured"
    );
    assert!(report.targets[0].steps[1].detail.contains("temporary"));

    let state = role_state(&iam, &role.name).await;
    let cutoff = cutoff_in(&state).expect("revoke-sessions policy on the role");
    let cutoff = chrono::DateTime::parse_from_rfc3339(&cutoff).unwrap();
    assert!(
        cutoff >= before - chrono::TimeDelta::seconds(1)
            && cutoff <= chrono::Utc::now() + chrono::TimeDelta::seconds(1)
    );
    let names: Vec<&str> = state["inline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"TourniquetDenyAll"), "{names:?}");
    assert!(
        state["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t[0] == "tourniquet:incident")
    );

    // The snapshot is the role before: trust policy, its own policies, instance profile, tags.
    let s3 = moto.s3().await;
    let key = &report
        .evidence
        .iter()
        .find(|e| e.key.ends_with("snapshot.json"))
        .unwrap()
        .key;
    assert!(
        key.ends_with("/111122223333/role/app-worker/snapshot.json"),
        "{key}"
    );
    let snapshot: Value = serde_json::from_slice(&evidence_body(&s3, key).await).unwrap();
    assert_eq!(snapshot["kind"], "role");
    assert_eq!(snapshot["role"]["arn"], role.arn);
    assert_eq!(
        snapshot["role"]["trust_policy"]["Statement"][0]["Principal"]["Service"],
        "ec2.amazonaws.com"
    );
    assert_eq!(
        snapshot["inline_policies"],
        json!([{"name": "read-secrets", "document": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}}])
    );
    assert_eq!(
        snapshot["attached_policies"][0]["arn"],
        "arn:aws:iam::aws:policy/ReadOnlyAccess"
    );
    assert!(
        snapshot["attached_policies"][0]["default_version"]["document"]["Statement"].is_array(),
        "the managed policy's document"
    );
    assert_eq!(snapshot["instance_profiles"][0]["name"], "app-worker");
    assert_eq!(
        snapshot["tags"],
        json!([{"key": "service", "value": "payments"}])
    );
}

#[tokio::test]
async fn a_replay_keeps_the_first_cutoff() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let role = seed_role(&iam, "app-worker", "/").await;
    let later = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let offset = later.clone();
    let responder = moto.responder(&[]).await.with_clock(move || {
        chrono::Utc::now()
            + chrono::TimeDelta::seconds(offset.load(std::sync::atomic::Ordering::SeqCst))
    });
    responder
        .handle(finding_for(&role.name))
        .await
        .expect("contained");
    let first = role_state(&iam, &role.name).await;

    // Two seconds later (by the responder's clock) the same finding arrives again.
    later.store(2, std::sync::atomic::Ordering::SeqCst);
    let replay = responder
        .handle(finding_for(&role.name))
        .await
        .expect("replayed");

    let revoke = &replay.targets[0].steps[0];
    assert_eq!(
        (revoke.action.as_str(), revoke.outcome),
        ("revoke_sessions", Outcome::AlreadyInPlace)
    );
    let cutoff = cutoff_in(&first).unwrap();
    assert!(revoke.detail.contains(&cutoff), "{}", revoke.detail);
    assert_eq!(
        role_state(&iam, &role.name).await,
        first,
        "the replay changed the role"
    );
}

#[tokio::test]
async fn a_role_by_arn_with_its_path_and_the_deny_all_when_configured() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let role = seed_role(&iam, "app-worker", "/service/").await;
    let responder = moto.responder(&[("ROLE_DENY_ALL", "true")]).await;

    let report = responder
        .handle(harness::event("manual-role.json"))
        .await
        .expect("contained");

    assert_eq!(report.targets[0].principal_arn, role.arn);
    let state = role_state(&iam, &role.name).await;
    let names: Vec<&str> = state["inline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"TourniquetDenyAll") && names.contains(&REVOKE_POLICY_NAME),
        "{names:?}"
    );
}

#[tokio::test]
async fn roles_iam_cannot_contain_are_refused_and_left_untouched() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let slr = seed_role(
        &iam,
        "AWSServiceRoleForSupport",
        "/aws-service-role/support.amazonaws.com/",
    )
    .await;
    let sso = seed_role(
        &iam,
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
        "/aws-reserved/sso.amazonaws.com/",
    )
    .await;
    let before = (
        role_state(&iam, &slr.name).await,
        role_state(&iam, &sso.name).await,
    );
    let responder = moto.responder(&[]).await;

    for (event, says) in [
        ("manual-service-linked-role.json", "service-linked role"),
        ("manual-identity-center-role.json", "IAM Identity Center"),
    ] {
        let report = responder.handle(harness::event(event)).await.expect(event);
        assert_eq!(report.status, Status::Refused, "{event}");
        let message = report.targets[0].message.as_deref().unwrap();
        assert!(message.contains(says), "{message}");
    }
    let after = (
        role_state(&iam, &slr.name).await,
        role_state(&iam, &sso.name).await,
    );
    assert_eq!(after, before);
}
