//! The incident-wide engine end to end on moto, with the wire recorded under the SDK: every
//! principal's containment writes go out before any snapshot detail is read, a principal named
//! twice is contained once, a failing read holds back no key, and the investigation stops before
//! the function's deadline while the containment stands.

use aws_sdk_iam::types::StatusType;
use harness::wire::{Hold, Sent, Wire};
use harness::{Moto, config, event, evidence_body, evidence_keys, key_statuses, seed_user};
use serde_json::Value;
use tourniquet_aws::report::{Outcome, Status};
use tourniquet_aws::{Error, Responder};

/// A Security Hub custom action naming every user of `arns`, one finding each.
fn custom_action(arns: &[String]) -> Value {
    let mut action = event("securityhub-custom-action.json");
    let template = action["detail"]["findings"][1].clone();
    let findings: Vec<Value> = arns
        .iter()
        .enumerate()
        .map(|(i, arn)| {
            let mut f = template.clone();
            f["Id"] = format!("engine-test/{i}").into();
            f["Resources"] =
                serde_json::json!([{"Type": "AwsIamUser", "Id": arn, "Partition": "aws", "Region": "us-east-1"}]);
            f
        })
        .collect();
    action["detail"]["findings"] = findings.into();
    action
}

/// A responder whose requests all go through `wire` (IAM's paced at `rate`).
async fn responder_over(moto: &Moto, wire: &Wire, rate: &str) -> Responder {
    let sdk = wire.under(&moto.sdk_config().await);
    harness::create_bucket(&harness::s3_client(&sdk)).await;
    Responder::new(&sdk, config(&[("IAM_REQUESTS_PER_SECOND", rate)]))
}

/// The one snapshot the run stored.
async fn stored_snapshot(moto: &Moto) -> Value {
    let s3 = moto.s3().await;
    let key = evidence_keys(&s3)
        .await
        .into_iter()
        .find(|k| k.ends_with("/snapshot.json"))
        .expect("snapshot stored");
    serde_json::from_slice(&evidence_body(&s3, &key).await).expect("snapshot JSON")
}

/// A snapshot detail: a read that needs a list's answer first (the first read's own
/// `GetUserPolicy` of the session policy needs none).
fn is_detail(sent: &Sent) -> bool {
    match sent.action.as_str() {
        "GetUserPolicy" => !sent.body.contains(tourniquet_aws::plan::REVOKE_POLICY_NAME),
        action => matches!(
            action,
            "GetPolicy"
                | "GetPolicyVersion"
                | "GetAccessKeyLastUsed"
                | "ListGroupPolicies"
                | "ListAttachedGroupPolicies"
                | "GetGroupPolicy"
        ),
    }
}

#[tokio::test]
async fn every_principals_containment_goes_out_before_any_snapshot_detail() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let mut arns = Vec::new();
    for i in 0..6 {
        arns.push(seed_user(&iam, &format!("app-{i}")).await.arn);
    }
    let wire = Wire::new(None);
    // A queue forms: 6 principals, ~15 requests each at once, 25 a second.
    let responder = responder_over(&moto, &wire, "25").await;

    let report = responder
        .handle(custom_action(&arns))
        .await
        .expect("contained");

    assert_eq!(report.status, Status::Contained, "{}", report.summary());
    assert_eq!(report.targets.len(), 6);
    let sent = wire.sent();
    let first_detail = sent
        .iter()
        .position(is_detail)
        .expect("the snapshot read details");
    let last_containment = sent
        .iter()
        .rposition(|s| {
            s.action == "PutUserPolicy"
                || (s.action == "UpdateAccessKey" && s.body.contains("Status=Inactive"))
        })
        .expect("containment writes");
    // Every deny and cutoff of all six (and the keys the event named: none here) before any
    // detail; with four principals at a time, the fifth's deny waited for the first's snapshot.
    let denies: Vec<usize> = sent
        .iter()
        .enumerate()
        .filter(|(_, s)| s.action == "PutUserPolicy")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(denies.len(), 12, "a deny and a cutoff for each of six");
    assert!(
        denies.iter().all(|i| *i < first_detail),
        "a deny or cutoff went out after the first detail read (at {first_detail}): {denies:?}"
    );
    for user in 0..6 {
        let keys = key_statuses(&iam, &format!("app-{user}")).await;
        assert!(
            keys.iter().all(|(_, s)| *s == StatusType::Inactive),
            "{keys:?}"
        );
    }
    assert!(last_containment > 0);
}

#[tokio::test]
async fn two_keys_of_one_user_in_one_health_event_contain_that_user_once() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let deployer = seed_user(&iam, "ci-deployer").await;
    let bot = seed_user(&iam, "build-bot").await;
    let responder = moto.responder(&[]).await;
    let mut health = event("health-iam-quarantine.json");
    let entity = health["detail"]["affectedEntities"][0].clone();
    let mut entities = Vec::new();
    for key in [&deployer.keys[0], &bot.keys[0], &deployer.keys[1]] {
        let mut e = entity.clone();
        e["entityValue"] = key.clone().into();
        entities.push(e);
    }
    health["detail"]["affectedEntities"] = entities.into();

    let report = responder
        .handle(health)
        .await
        .expect("contained, not partial");

    assert_eq!(report.status, Status::Contained, "{}", report.summary());
    let arns: Vec<&str> = report
        .targets
        .iter()
        .map(|t| t.principal_arn.as_str())
        .collect();
    assert_eq!(
        arns,
        [deployer.arn.as_str(), bot.arn.as_str()],
        "each user once"
    );
    let named: Vec<&str> = report.targets[0]
        .steps
        .iter()
        .filter(|s| s.named_in_event)
        .map(|s| s.target.as_str())
        .collect();
    assert_eq!(
        named,
        [deployer.keys[0].as_str(), deployer.keys[1].as_str()]
    );
    let s3 = moto.s3().await;
    let snapshots = evidence_keys(&s3)
        .await
        .into_iter()
        .filter(|k| k.ends_with("/snapshot.json") && k.contains("ci-deployer"))
        .count();
    assert_eq!(snapshots, 1, "one snapshot of the user, written once");
    for user in ["ci-deployer", "build-bot"] {
        let keys = key_statuses(&iam, user).await;
        assert!(
            keys.iter().all(|(_, s)| *s == StatusType::Inactive),
            "{user}: {keys:?}"
        );
    }
}

#[tokio::test]
async fn a_failing_snapshot_read_holds_back_no_key() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    // The group listing is held until the key the event did not name has been deactivated,
    // then fails with HTTP 500. A responder that waited for every list before the other keys
    // would wait out the hold.
    let wire = Wire::new(Some(Hold {
        action: "ListGroupsForUser",
        until: format!("AccessKeyId={}", user.keys[1]),
    }));
    let responder = responder_over(&moto, &wire, "40").await;

    let result = responder
        .handle(harness::guardduty_finding("ci-deployer", &user.keys[0]))
        .await;

    assert_eq!(
        wire.released_in_time(),
        Some(true),
        "the other key was not deactivated while a read was outstanding"
    );
    let report = match result {
        Ok(report) => report,
        Err(Error::Partial { report, .. }) => *report,
        Err(e) => panic!("{e}"),
    };
    let other = report.targets[0]
        .steps
        .iter()
        .find(|s| s.target == user.keys[1])
        .expect("the other key's step");
    assert_eq!(other.outcome, Outcome::Applied);
    let keys = key_statuses(&iam, "ci-deployer").await;
    assert!(
        keys.iter().all(|(_, s)| *s == StatusType::Inactive),
        "{keys:?}"
    );
    let snapshot = stored_snapshot(&moto).await;
    assert!(
        snapshot["groups"]["unavailable"]
            .as_str()
            .is_some_and(|e| e.contains("ServiceFailure")),
        "the failed read says so in the evidence: {}",
        snapshot["groups"]
    );
}

#[tokio::test]
async fn the_investigation_stops_before_the_deadline_and_the_containment_stands() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let responder = moto.responder(&[]).await;
    // Lambda's deadline has (all but) come: the containment goes out, the details are not read.
    let deadline = std::time::SystemTime::now() + std::time::Duration::from_millis(1);

    let err = responder
        .handle_until(
            harness::guardduty_finding("ci-deployer", &user.keys[0]),
            Some(deadline),
        )
        .await
        .expect_err("partial: the evidence is incomplete");

    let Error::Partial { report, .. } = err else {
        panic!("{err}")
    };
    let target = &report.targets[0];
    assert_eq!(target.status, Status::Partial);
    assert!(
        target
            .message
            .as_deref()
            .is_some_and(|m| m.contains("deadline")),
        "{:?}",
        target.message
    );
    assert!(
        harness::steps(target).all(|s| s.outcome == Outcome::Applied),
        "every containment step applied: {:?}",
        target.steps
    );
    let keys = key_statuses(&iam, "ci-deployer").await;
    assert!(
        keys.iter().all(|(_, s)| *s == StatusType::Inactive),
        "{keys:?}"
    );
    let state = harness::user_state(&iam, "ci-deployer").await;
    let inline = state["inline"].as_array().expect("inline policies");
    assert!(
        inline
            .iter()
            .any(|p| p[0] == tourniquet_aws::plan::DENY_POLICY_NAME),
        "{state}"
    );
    // What was listed is in the evidence; each detail not read says why.
    let snapshot = stored_snapshot(&moto).await;
    let policy = &snapshot["inline_policies"][0];
    assert_eq!(policy["name"], "deploy-everything");
    assert!(
        policy["document"]["unavailable"]
            .as_str()
            .is_some_and(|e| e.contains("deadline")),
        "{policy}"
    );
}
