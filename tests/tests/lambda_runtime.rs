//! The `contain` binary itself, run as Lambda runs it (through the Runtime API), against moto.

use aws_sdk_iam::types::StatusType;
use harness::lambda::{binary, environment, invoke};
use harness::{Moto, guardduty_finding, key_statuses, seed_user};

#[tokio::test]
async fn the_contain_function_contains_a_user_through_the_lambda_runtime_api() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    harness::create_bucket(&moto.s3().await).await;

    let invocation = invoke(
        &binary("contain"),
        &environment(&moto, &[]),
        &guardduty_finding(&user.name, &user.keys[0]),
    )
    .await;

    let report = invocation
        .result
        .unwrap_or_else(|e| panic!("{e}\n{}", invocation.logs));
    assert_eq!(report["status"], "contained", "{report}");
    assert!(
        key_statuses(&iam, &user.name)
            .await
            .iter()
            .all(|(_, s)| *s == StatusType::Inactive)
    );
    assert!(
        invocation.logs.contains("incident received"),
        "{}",
        invocation.logs
    );
    assert!(
        !invocation.logs.contains("wJalrXUtnFEMI"),
        "no credentials in the logs"
    );
}

#[tokio::test]
async fn a_malformed_event_is_a_lambda_error_that_names_the_field() {
    let moto = Moto::start();
    let invocation = invoke(
        &binary("contain"),
        &environment(&moto, &[]),
        &harness::event("malformed-guardduty-missing-access-key.json"),
    )
    .await;

    let error = invocation.result.expect_err("an error");
    assert_eq!(error["errorType"], "InvalidEvent", "{error}");
    let message = error["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("detail.resource.accessKeyDetails"),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_evidence_bucket_stops_the_function_at_start_with_a_clear_error() {
    let moto = Moto::start();
    let env: Vec<_> = environment(&moto, &[])
        .into_iter()
        .filter(|(k, _)| *k != "EVIDENCE_BUCKET")
        .collect();

    let invocation = invoke(
        &binary("contain"),
        &env,
        &harness::event("manual-user.json"),
    )
    .await;

    assert!(invocation.result.is_err());
    assert!(
        invocation.logs.contains("EVIDENCE_BUCKET is not set"),
        "{}",
        invocation.logs
    );
}

#[tokio::test]
async fn every_function_answers_a_dry_run_from_the_console() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    harness::create_bucket(&moto.s3().await).await;
    let mut request = harness::event("manual-user-dry-run.json");
    request["principal_arn"] = user.arn.clone().into();
    request["access_key_id"] = user.keys[0].clone().into();

    for (function, status) in [
        ("contain", "planned"),
        ("snapshot", "captured"),
        ("deactivate-access-keys", "planned"),
        ("attach-deny-all", "planned"),
        ("revoke-sessions", "planned"),
        ("release", "refused"),
    ] {
        let request = if function == "release" {
            serde_json::json!({"principal_arn": user.arn, "incident_id": "IR-2026-0042", "dry_run": true})
        } else {
            request.clone()
        };
        let invocation = invoke(&binary(function), &environment(&moto, &[]), &request).await;
        let report = invocation
            .result
            .unwrap_or_else(|e| panic!("{function}: {e}\n{}", invocation.logs));
        assert_eq!(report["status"], status, "{function}: {report}");
    }
    assert!(
        key_statuses(&iam, &user.name)
            .await
            .iter()
            .all(|(_, s)| *s == StatusType::Active)
    );
}
