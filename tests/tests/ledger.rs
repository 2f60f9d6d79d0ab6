//! The ledger is the truth, against moto: the session cutoff comes from the incident's own ledger
//! in the evidence store, never from what the principal's tags claim.

use harness::{Moto, cutoff_in, role_state, seed_role};
use serde_json::Value;
use tourniquet_aws::plan::{INCIDENT_TAG, SESSION_CUTOFF_TAG};
use tourniquet_aws::report::{Outcome, Status};

fn finding_for(role: &str) -> Value {
    let mut event = harness::event("guardduty-assumed-role.json");
    event["detail"]["resource"]["accessKeyDetails"]["userName"] = role.into();
    event
}

#[tokio::test]
async fn a_cutoff_planted_in_the_principals_tags_is_ignored() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let role = seed_role(&iam, "app-worker", "/service/").await;
    // The stolen session may tag its own role: it plants the incident id (predictable from the
    // finding) and a cutoff from long before its own sessions were issued.
    let incident = "guardduty-0f1e2d3c4b5a46978877665544332211";
    let planted = [
        (INCIDENT_TAG, incident),
        (SESSION_CUTOFF_TAG, "2020-01-01T00:00:00Z"),
    ];
    for (key, value) in planted {
        iam.tag_role()
            .role_name(&role.name)
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let responder = moto.responder(&[]).await;
    let finding = finding_for(&role.name);
    assert_eq!(
        format!("guardduty-{}", finding["detail"]["id"].as_str().unwrap()),
        incident
    );
    let before = chrono::Utc::now();

    let report = responder.handle(finding).await.expect("contained");

    let after = chrono::Utc::now();
    assert_eq!(report.status, Status::Contained, "{report:?}");
    let state = role_state(&iam, &role.name).await;
    let cutoff = cutoff_in(&state).expect("revoke-sessions policy");
    let cutoff = chrono::DateTime::parse_from_rfc3339(&cutoff).unwrap();
    assert!(
        cutoff >= before.with_timezone(&cutoff.timezone()) - chrono::TimeDelta::seconds(1)
            && cutoff <= after + chrono::TimeDelta::seconds(1),
        "the cutoff {cutoff} is this invocation's, not the planted one"
    );
    let revoke = &report.targets[0].steps[0];
    assert_eq!(
        (revoke.action.as_str(), revoke.outcome),
        ("revoke_sessions", Outcome::Applied)
    );
    assert_eq!(
        revoke.cutoff.as_deref(),
        Some(
            cutoff
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                .as_str()
        )
    );
    // The tag, which only informs, now shows the cutoff in force.
    let tags = state["tags"].to_string();
    assert!(!tags.contains("2020-01-01"), "{tags}");
}

#[tokio::test]
async fn look_alike_names_are_evidence_not_tourniquets_own() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let s3 = moto.s3().await;
    let user = harness::seed_user(&iam, "ci-deployer").await;
    // What an attacker would hide behind Tourniquet's prefixes.
    iam.put_user_policy()
        .user_name(&user.name)
        .policy_name("TourniquetBackdoor")
        .policy_document(harness::ALLOW_ALL)
        .send()
        .await
        .unwrap();
    iam.tag_user()
        .user_name(&user.name)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("tourniquet:owner")
                .value("attacker")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let responder = moto.responder(&[]).await;

    let report = responder
        .handle(harness::guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("contained");

    let key = report
        .evidence
        .iter()
        .find(|e| e.key.ends_with("/snapshot.json"))
        .unwrap()
        .key
        .clone();
    let snapshot: Value = serde_json::from_slice(&harness::evidence_body(&s3, &key).await).unwrap();
    let inline: Vec<&str> = snapshot["inline_policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(inline.contains(&"TourniquetBackdoor"), "{inline:?}");
    assert!(!inline.contains(&"TourniquetDenyAll"), "{inline:?}");
    let tags = snapshot["tags"].to_string();
    assert!(tags.contains("tourniquet:owner"), "{tags}");
    assert!(snapshot["tourniquet_own"].is_array());
}

#[tokio::test]
async fn a_containment_that_died_before_its_evidence_is_released_exactly() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let s3 = moto.s3().await;
    let user = harness::seed_user(&iam, "ci-deployer").await;
    let mut before = harness::user_state(&iam, &user.name).await;
    harness::create_bucket(&s3).await;
    let sdk = moto.sdk_config().await;
    let dying_s3 = harness::dying_s3(&sdk);
    let dying = tourniquet_aws::Responder::with_clients(
        aws_sdk_iam::Client::new(&sdk),
        dying_s3,
        aws_sdk_sts::Client::new(&sdk),
        harness::config(&[]),
    );

    let died = dying
        .handle(harness::guardduty_finding(&user.name, &user.keys[0]))
        .await;

    assert!(died.is_err(), "the evidence failed: {died:?}");
    let contained = harness::user_state(&iam, &user.name).await;
    assert!(
        contained["inline"]
            .to_string()
            .contains("TourniquetDenyAll")
    );
    let stored = harness::evidence_keys(&s3).await;
    assert_eq!(stored.len(), 1, "only the intent survived: {stored:?}");
    assert!(stored[0].ends_with("/intent.json"));

    let release = moto
        .responder(&[])
        .await
        .playing(tourniquet_aws::Playbook::Release);
    let report = release
        .handle(serde_json::json!({
            "principal_arn": user.arn,
            "incident_id": "guardduty-5ac6e0f1b2c34d5e6f708192a3b4c5d6",
        }))
        .await
        .expect("released from the intent");

    assert_eq!(report.status, Status::Released, "{report:?}");
    let after = harness::user_state(&iam, &user.name).await;
    // Exactly what the dead run did is undone: the deny and the incident tags come off; the keys
    // stay inactive (none listed); the session cutoff and the release tags are the residue.
    before["keys"][0][1] = "Inactive".into();
    before["keys"][1][1] = "Inactive".into();
    let mut residue_free = after.clone();
    residue_free["inline"]
        .as_array_mut()
        .unwrap()
        .retain(|p| p[0] != tourniquet_aws::plan::REVOKE_POLICY_NAME);
    residue_free["tags"].as_array_mut().unwrap().retain(|t| {
        let key = t[0].as_str().unwrap();
        key != SESSION_CUTOFF_TAG && !key.starts_with("tourniquet:released")
    });
    assert_eq!(residue_free, before);
    assert!(cutoff_in(&after).is_some(), "the session cutoff stays");
}
