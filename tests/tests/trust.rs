//! Who can aim Tourniquet, tried as an attacker would against moto: forged sources, findings
//! imported by anyone, other accounts' principals, samples, case tricks on protected names,
//! oversized events and re-deliveries after a release. Each attempt is made through the real
//! `contain` binary or the responder, and the principals' state is read back before and after.

use aws_sdk_iam::types::StatusType;
use harness::lambda::{binary, environment, invoke};
use harness::{
    ACCOUNT, Moto, event, evidence_keys, guardduty_finding, key_statuses, role_state, seed_role,
    seed_user, user_state,
};
use serde_json::{Value, json};
use tourniquet_aws::Playbook;
use tourniquet_aws::error::Error;
use tourniquet_aws::report::{Report, Status};

/// Each forged or untrusted event, as an attacker with ordinary rights could send it, aimed at
/// real principals: `ci-deployer` (user, its real key) and `app-worker` (role).
fn spoofs(key: &str) -> Vec<(&'static str, Value, &'static str)> {
    let mut spoofed_guardduty = event("guardduty-spoofed-source.json");
    spoofed_guardduty["detail"]["resource"]["accessKeyDetails"]["accessKeyId"] = key.into();
    // Imported into the account's own default product, naming the user.
    let mut own_product = event("securityhub-imported.json");
    own_product["detail"]["findings"][0]["Resources"][0]["Id"] =
        format!("arn:aws:iam::{ACCOUNT}:user/ci-deployer").into();
    // A finding about another account that names a principal of this one.
    let mut cross = event("securityhub-imported-cross-account.json");
    cross["detail"]["findings"][0]["AwsAccountId"] = "444455556666".into();
    cross["detail"]["findings"][0]["Resources"][0]["Id"] =
        format!("arn:aws:iam::{ACCOUNT}:role/service/app-worker").into();
    let mut no_severity = event("securityhub-imported-no-severity.json");
    no_severity["detail"]["findings"][0]["Resources"][0]["Details"]["AwsIamAccessKey"]["AccessKeyId"] =
        key.into();
    let mut sample = event("guardduty-iam-user-sample-string-info.json");
    sample["detail"]["resource"]["accessKeyDetails"]["accessKeyId"] = key.into();
    vec![
        (
            "CloudTrail-shaped event from a customer source",
            event("cloudtrail-spoofed-source.json"),
            "events:PutEvents",
        ),
        (
            "GuardDuty-shaped event from a customer source",
            spoofed_guardduty,
            "events:PutEvents",
        ),
        (
            "finding imported into the account's own product",
            own_product,
            "not an AWS-owned product",
        ),
        (
            "finding naming another account's principal",
            cross,
            "AwsAccountId",
        ),
        (
            "imported finding without severity",
            no_severity,
            "no severity",
        ),
        ("sample flag inside a JSON string", sample, "sample finding"),
        (
            "sample with its flag stripped",
            event("guardduty-sample-generated-names.json"),
            "GeneratedFinding",
        ),
    ]
}

#[tokio::test]
async fn no_forged_or_untrusted_event_changes_anything() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let s3 = moto.s3().await;
    let user = seed_user(&iam, "ci-deployer").await;
    seed_role(&iam, "app-worker", "/service/").await;
    harness::create_bucket(&s3).await;
    let before = (
        user_state(&iam, &user.name).await,
        role_state(&iam, "app-worker").await,
    );

    for (what, spoof, says) in spoofs(&user.keys[0]) {
        let invocation = invoke(&binary("contain"), &environment(&moto, &[]), &spoof).await;

        let report = invocation
            .result
            .unwrap_or_else(|e| panic!("{what}: {e}\n{}", invocation.logs));
        assert_eq!(report["status"], "ignored", "{what}: {report}");
        let message = report["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{what}: {message}");
        let after = (
            user_state(&iam, &user.name).await,
            role_state(&iam, "app-worker").await,
        );
        assert_eq!(after, before, "{what} changed IAM");
    }
    assert!(evidence_keys(&s3).await.is_empty(), "nothing stored");
    assert!(
        key_statuses(&iam, &user.name)
            .await
            .iter()
            .all(|(_, s)| *s == StatusType::Active)
    );
}

#[tokio::test]
async fn a_protected_role_spelled_in_another_case_is_refused_and_untouched() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    seed_role(&iam, "BreakGlassAdmin", "/").await;
    seed_role(&iam, "OrganizationAccountAccessRole", "/").await;
    let before = (
        role_state(&iam, "BreakGlassAdmin").await,
        role_state(&iam, "OrganizationAccountAccessRole").await,
    );
    let responder = moto
        .responder(&[("PROTECTED_PRINCIPALS", " arn:*:iam::*:role/BreakGlass* ")])
        .await;
    let mut finding = event("guardduty-assumed-role.json");
    finding["detail"]["resource"]["accessKeyDetails"]["userName"] = "BREAKGLASSADMIN".into();

    for (request, rule) in [
        (
            json!({"principal_arn": format!("arn:aws:iam::{ACCOUNT}:role/breakglassadmin")}),
            "PROTECTED_PRINCIPALS",
        ),
        (finding, "PROTECTED_PRINCIPALS"),
        (
            json!({"principal_arn": format!("arn:aws:iam::{ACCOUNT}:role/organizationaccountaccessrole")}),
            "built-in protection",
        ),
    ] {
        let report = responder.handle(request.clone()).await.expect("a report");

        assert_eq!(report.status, Status::Refused, "{request}: {report:?}");
        let message = report.targets[0].message.as_deref().unwrap_or_default();
        assert!(message.contains(rule), "{message}");
    }
    let after = (
        role_state(&iam, "BreakGlassAdmin").await,
        role_state(&iam, "OrganizationAccountAccessRole").await,
    );
    assert_eq!(after, before);
}

#[tokio::test]
async fn a_protection_by_path_holds_for_an_arn_that_leaves_the_path_out() {
    // GIVEN a break-glass user on /breakglass/, protected by its path
    let moto = Moto::start();
    let iam = moto.iam().await;
    iam.create_user()
        .user_name("bg-admin")
        .path("/breakglass/")
        .send()
        .await
        .unwrap();
    let key = harness::new_key(&iam, "bg-admin").await;
    let before = user_state(&iam, "bg-admin").await;
    let responder = moto
        .responder(&[("PROTECTED_PRINCIPALS", "arn:aws:iam::*:user/breakglass/*")])
        .await;

    // WHEN a request (or the hunt, which builds `user/<name>` from CloudTrail) names the user
    // without its path
    let report = responder
        .handle(
            json!({"principal_arn": format!("arn:aws:iam::{ACCOUNT}:user/bg-admin"),
                       "access_key_id": key.access_key_id}),
        )
        .await
        .expect("a report");

    // THEN the real path is read, the protection holds, and nothing changed
    assert_eq!(report.status, Status::Refused, "{report:#?}");
    let message = report.targets[0].message.as_deref().unwrap_or_default();
    assert!(message.contains("user/breakglass/*"), "{message}");
    assert_eq!(user_state(&iam, "bg-admin").await, before);
}

#[tokio::test]
async fn a_health_event_with_a_malformed_entity_contains_the_good_key_and_ends_partial() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    harness::create_bucket(&moto.s3().await).await;
    let mut health = event("health-credentials-exposed-mixed-entities.json");
    health["detail"]["affectedEntities"][0]["entityValue"] = user.keys[0].clone().into();

    let invocation = invoke(&binary("contain"), &environment(&moto, &[]), &health).await;

    let error = invocation
        .result
        .expect_err("partial: a Lambda error for the alarm and the dead-letter queue");
    let message = error["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("detail.affectedEntities[1].entityValue"),
        "{message}"
    );
    let keys = key_statuses(&iam, &user.name).await;
    assert_eq!(keys[0], (user.keys[0].clone(), StatusType::Inactive));
    assert!(
        user_state(&iam, &user.name).await["inline"]
            .to_string()
            .contains("TourniquetDenyAll")
    );
    // The stored report names the skipped entity.
    let s3 = moto.s3().await;
    let report_key = evidence_keys(&s3)
        .await
        .into_iter()
        .find(|k| k.ends_with("/report.json"))
        .expect("report stored");
    let report: Report =
        serde_json::from_slice(&harness::evidence_body(&s3, &report_key).await).unwrap();
    assert_eq!(report.status, Status::Partial);
    assert_eq!(
        report.skipped[0].field,
        "detail.affectedEntities[1].entityValue"
    );
}

/// An imported GuardDuty finding (through Security Hub) naming `users` of the account.
fn imported_naming(users: &[String]) -> Value {
    let mut e = event("securityhub-imported-guardduty.json");
    e["detail"]["findings"][0]["Resources"] = users
        .iter()
        .map(|u| json!({"Type": "AwsIamUser", "Id": format!("arn:aws:iam::{ACCOUNT}:user/{u}")}))
        .collect();
    e
}

#[tokio::test]
async fn an_imported_finding_naming_more_principals_than_the_cap_contains_none() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let a = seed_user(&iam, "ci-deployer").await;
    let b = seed_user(&iam, "build-bot").await;
    let before = (
        user_state(&iam, &a.name).await,
        user_state(&iam, &b.name).await,
    );
    let responder = moto.responder(&[("MAX_PRINCIPALS_PER_EVENT", "2")]).await;
    let three = imported_naming(&[a.name.clone(), b.name.clone(), "release-bot".into()]);

    let report = responder.handle(three.clone()).await.expect("a report");

    assert_eq!(report.status, Status::Refused, "{report:?}");
    let message = report.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("needs a human") && message.contains("\"max_principals\": 3"),
        "{message}"
    );
    assert_eq!(report.targets.len(), 3, "every principal named is listed");
    let after = (
        user_state(&iam, &a.name).await,
        user_state(&iam, &b.name).await,
    );
    assert_eq!(after, before);

    // Two are within the cap: contained.
    let two = imported_naming(&[a.name.clone(), b.name.clone()]);
    let report = responder.handle(two).await.expect("contained");
    assert_eq!(report.status, Status::Contained, "{report:?}");
}

fn with_last_seen(mut finding: Value, at: chrono::DateTime<chrono::Utc>) -> Value {
    finding["detail"]["service"]["eventLastSeen"] =
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into();
    finding
}

#[tokio::test]
async fn a_finding_re_delivered_after_its_release_does_not_contain_again_unless_it_saw_new_activity()
 {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let contain = moto.responder(&[]).await;
    let finding = with_last_seen(
        guardduty_finding(&user.name, &user.keys[0]),
        chrono::Utc::now() - chrono::TimeDelta::minutes(5),
    );
    contain.handle(finding.clone()).await.expect("contained");
    let release = moto.responder(&[]).await.playing(Playbook::Release);
    let release_started = chrono::Utc::now();
    let released = release
        .handle(json!({
            "principal_arn": user.arn,
            "incident_id": "guardduty-5ac6e0f1b2c34d5e6f708192a3b4c5d6",
            "reason": "false positive: the CI runner's new egress address",
        }))
        .await
        .expect("released");
    assert_eq!(released.status, Status::Released, "{released:?}");
    let after_release = user_state(&iam, &user.name).await;

    // GuardDuty re-sends the finding as it updates; EventBridge retries.
    let replay = contain.handle(finding.clone()).await.expect("a report");

    assert_eq!(replay.status, Status::Ignored, "{replay:?}");
    let why = replay.targets[0].message.as_deref().unwrap_or_default();
    assert!(
        why.contains("released from") && why.contains("false positive"),
        "{why}"
    );
    assert_eq!(user_state(&iam, &user.name).await, after_release);

    // A tag the principal could write is no release: only the record in the evidence store is.
    // New activity after the release is a new containment with a new cutoff.
    let newer = with_last_seen(finding, chrono::Utc::now() + chrono::TimeDelta::seconds(30));
    let again = contain.handle(newer).await.expect("contained again");

    assert_eq!(again.status, Status::Contained, "{again:?}");
    let note = again.targets[0].message.as_deref().unwrap_or_default();
    assert!(note.contains("new activity"), "{note}");
    let state = user_state(&iam, &user.name).await;
    assert!(state["inline"].to_string().contains("TourniquetDenyAll"));
    let cutoff = harness::cutoff_in(&state).expect("a cutoff");
    let cutoff = chrono::DateTime::parse_from_rfc3339(&cutoff).unwrap();
    assert!(
        cutoff > release_started,
        "the cutoff {cutoff} is after the release: sessions issued since die too"
    );
}

#[tokio::test]
async fn a_human_may_contain_a_released_principal_again() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let contain = moto.responder(&[]).await;
    let request = json!({"principal_arn": user.arn, "incident_id": "IR-2026-0042"});
    contain.handle(request.clone()).await.expect("contained");
    moto.responder(&[])
        .await
        .playing(Playbook::Release)
        .handle(json!({"principal_arn": user.arn, "incident_id": "IR-2026-0042"}))
        .await
        .expect("released");

    let again = contain.handle(request).await;

    let report = match again {
        Ok(report) => report,
        Err(Error::Partial { report, .. }) => *report,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(report.status, Status::Contained, "{report:?}");
    assert!(
        user_state(&iam, &user.name).await["inline"]
            .to_string()
            .contains("TourniquetDenyAll")
    );
}
