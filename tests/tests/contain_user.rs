//! A compromised IAM user contained end to end against the moto emulator, read back through a
//! second client. Run with `make test` (it creates the virtualenv with moto).

use aws_sdk_iam::types::StatusType;
use harness::{
    BUCKET, Moto, evidence_body, evidence_keys, guardduty_finding, key_statuses, seed_user,
    user_state,
};
use playbook::plan::{DENY_POLICY_NAME, INCIDENT_TAG};
use playbook::report::{Outcome, Status};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

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
    let document = playbook::snapshot::decode_policy(&deny.policy_document).unwrap();
    assert_eq!(document["Statement"][0]["Effect"], "Deny");
    assert_eq!(document["Statement"][0]["Action"], "*");
    assert_eq!(document["Statement"][0]["Resource"], "*");
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

    // AND the report has every step, the critical ones in the first wave, in three waves in all
    assert_eq!(report.incident_id, incident);
    assert_eq!(
        report.targets[0].principal_arn, user.arn,
        "the ARN carries the user's path"
    );
    let steps: Vec<(&str, &str, Outcome)> = report.targets[0]
        .steps
        .iter()
        .map(|s| (s.action.as_str(), s.target.as_str(), s.outcome))
        .collect();
    assert_eq!(
        steps,
        [
            ("attach_deny_all", DENY_POLICY_NAME, Outcome::Applied),
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
    // identity lookup, wave 1 (writes + lists), wave 2 (details + other writes), evidence
    assert_eq!(report.waves, 4);

    // AND the evidence objects exist with the SHA-256 the report gives
    let s3 = moto.s3().await;
    let stored = evidence_keys(&s3).await;
    assert_eq!(report.evidence.len(), 3, "event, snapshot, report");
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
        "the deny is left out"
    );
    assert_eq!(
        snapshot["attached_policies"][0]["arn"],
        "arn:aws:iam::aws:policy/ReadOnlyAccess"
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
