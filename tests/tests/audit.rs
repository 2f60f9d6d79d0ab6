//! The readiness audit against an account seeded to break every check once and pass it once:
//! moto serves the credential report, the account summary, the password policy, the
//! authorization details and Security Hub; the verdicts are read back from the stored report and
//! the findings from Security Hub. moto's credential report has no root row (and its summary
//! fixes the root flags at 0): the root checks are proved with a mocked IAM.

use aws_sdk_iam::Client;
use aws_sdk_iam::operation::generate_credential_report::GenerateCredentialReportOutput;
use aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsOutput;
use aws_sdk_iam::operation::get_account_password_policy::GetAccountPasswordPolicyError;
use aws_sdk_iam::operation::get_account_summary::GetAccountSummaryOutput;
use aws_sdk_iam::operation::get_credential_report::GetCredentialReportOutput;
use aws_sdk_iam::types::error::NoSuchEntityException;
use aws_sdk_iam::types::{ReportStateType, SummaryKeyType};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use chrono::{TimeDelta, Utc};
use harness::{ACCOUNT, Moto, event, evidence_body, user_state};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tourniquet_aws::Playbook;
use tourniquet_aws::audit::{AuditReport, Compliance};
use tourniquet_aws::report::Status;
use tourniquet_aws::responder::Responder;

const TRUST_ACCOUNT: &str = "999988887777";

fn trust(statement: Value) -> String {
    json!({"Version": "2012-10-17", "Statement": [statement]}).to_string()
}

fn allow(actions: &[&str], condition: Option<Value>) -> String {
    let mut statement = json!({"Effect": "Allow", "Action": actions, "Resource": "*"});
    if let Some(c) = condition {
        statement["Condition"] = c;
    }
    json!({"Version": "2012-10-17", "Statement": [statement]}).to_string()
}

async fn user(
    iam: &Client,
    name: &str,
    password: bool,
    mfa: bool,
    keys: usize,
) -> Vec<(String, String)> {
    iam.create_user().user_name(name).send().await.unwrap();
    if password {
        iam.create_login_profile()
            .user_name(name)
            .password("Correct-Horse-9")
            .send()
            .await
            .unwrap();
    }
    if mfa {
        enable_mfa(iam, name).await;
    }
    let mut out = Vec::new();
    for _ in 0..keys {
        let key = iam
            .create_access_key()
            .user_name(name)
            .send()
            .await
            .unwrap()
            .access_key
            .unwrap();
        out.push((key.access_key_id, key.secret_access_key));
    }
    out
}

async fn enable_mfa(iam: &Client, name: &str) {
    let device = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name(format!("{name}-mfa"))
        .send()
        .await
        .unwrap()
        .virtual_mfa_device
        .unwrap();
    iam.enable_mfa_device()
        .user_name(name)
        .serial_number(device.serial_number)
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .unwrap();
}

async fn role(iam: &Client, name: &str, trust: String, inline: Option<String>) -> String {
    let arn = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .arn;
    if let Some(document) = inline {
        iam.put_role_policy()
            .role_name(name)
            .policy_name("work")
            .policy_document(document)
            .send()
            .await
            .unwrap();
    }
    arn
}

fn arn(kind: &str, name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:{kind}/{name}")
}

const PROTECTED: &str = "arn:aws:iam::*:role/BreakGlass,arn:aws:iam::*:user/breakglass-user,arn:aws:iam::*:role/EmergencyAccess";

/// The account: every check broken once and kept once (the 90-day ones break with time).
async fn seed(moto: &Moto) {
    let iam = moto.iam().await;
    iam.update_account_password_policy()
        .minimum_password_length(8)
        .send()
        .await
        .unwrap();
    user(&iam, "alice", true, true, 0).await;
    iam.create_group()
        .group_name("developers")
        .send()
        .await
        .unwrap();
    iam.add_user_to_group()
        .group_name("developers")
        .user_name("alice")
        .send()
        .await
        .unwrap();
    user(&iam, "bob", true, false, 0).await;
    iam.put_user_policy()
        .user_name("bob")
        .policy_name("extra")
        .policy_document(allow(&["s3:GetObject"], None))
        .send()
        .await
        .unwrap();
    user(&iam, "svc-build", false, false, 2).await;
    user(&iam, "svc-idle", false, false, 0).await;
    user(&iam, "carol", false, false, 1).await;
    // The break-glass user has no MFA, and its key was just used.
    let glass = user(&iam, "breakglass-user", false, false, 1).await;
    let sdk = moto.sdk_config_as(&glass[0].0, &glass[0].1).await;
    aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
        .unwrap();

    let admin = iam
        .create_policy()
        .policy_name("PowerAll")
        .policy_document(allow(&["*"], None))
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap();
    iam.create_policy()
        .policy_name("ReadOnlyS3")
        .policy_document(allow(&["s3:Get*", "s3:List*"], None))
        .send()
        .await
        .unwrap();
    let lambda = trust(
        json!({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}),
    );
    role(&iam, "ops-admin", lambda.clone(), None).await;
    iam.attach_role_policy()
        .role_name("ops-admin")
        .policy_arn(admin)
        .send()
        .await
        .unwrap();
    role(&iam, "lambda-exec", lambda.clone(), None).await;
    let other = json!({"AWS": format!("arn:aws:iam::{TRUST_ACCOUNT}:root")});
    role(
        &iam,
        "vendor-access",
        trust(json!({"Effect": "Allow", "Principal": other, "Action": "sts:AssumeRole"})),
        None,
    )
    .await;
    role(
        &iam,
        "partner-access",
        trust(
            json!({"Effect": "Allow", "Principal": other, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "partner-7"}}}),
        ),
        None,
    )
    .await;
    role(
        &iam,
        "platform-deployer",
        lambda.clone(),
        Some(allow(&["iam:CreateRole", "iam:AttachRolePolicy"], None)),
    )
    .await;
    role(
        &iam,
        "team-deployer",
        lambda,
        Some(allow(
            &["iam:CreateRole"],
            Some(json!({"StringEquals": {"iam:PermissionsBoundary": format!("arn:aws:iam::{ACCOUNT}:policy/boundary")}})),
        )),
    )
    .await;
    let own = json!({"AWS": format!("arn:aws:iam::{ACCOUNT}:root")});
    role(
        &iam,
        "BreakGlass",
        trust(
            json!({"Effect": "Allow", "Principal": own, "Action": "sts:AssumeRole",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}),
        ),
        None,
    )
    .await;
}

async fn audit(responder: &Responder, request: Value) -> Value {
    responder.invoke(request, None).await.expect("audited")
}

/// The key of the object the answer stored whose name ends in `suffix`.
fn stored(answer: &Value, suffix: &str) -> String {
    answer["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_owned())
        .find(|k| k.ends_with(suffix))
        .unwrap_or_else(|| panic!("no {suffix} stored: {answer:#}"))
}

/// Every verdict of the report the answer stored, by (check, resource).
async fn verdicts(
    moto: &Moto,
    answer: &Value,
) -> (AuditReport, BTreeMap<(String, String), Compliance>) {
    let key = stored(answer, "/report.json");
    let report: AuditReport =
        serde_json::from_slice(&evidence_body(&moto.s3().await, &key).await).unwrap();
    let map = report
        .verdicts
        .iter()
        .map(|v| ((v.check.clone(), v.resource.id.clone()), v.status))
        .collect();
    (report, map)
}

/// Security Hub's findings by id: (compliance status, created at, updated at). Read on a thread
/// of its own with a larger stack: the SDK's deserializer of an ASFF `Resource` (every resource
/// type's details) takes more stack in a debug build than a test thread has.
async fn hub(moto: &Moto) -> BTreeMap<String, (String, String, String)> {
    let sdk = moto.sdk_config().await;
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let client = aws_sdk_securityhub::Client::new(&sdk);
                let mut out = BTreeMap::new();
                let mut pages = client.get_findings().into_paginator().send();
                while let Some(page) = pages.next().await {
                    for f in page.unwrap().findings() {
                        let status = f
                            .compliance()
                            .and_then(|c| c.status())
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_default();
                        let text = |t: Option<&str>| t.unwrap_or_default().to_owned();
                        out.insert(
                            text(f.id()),
                            (status, text(f.created_at()), text(f.updated_at())),
                        );
                    }
                }
                out
            })
        })
        .unwrap()
        .join()
        .unwrap()
}

fn account() -> String {
    format!("AWS::::Account:{ACCOUNT}")
}

#[tokio::test]
async fn every_check_fails_once_and_passes_once_and_a_rerun_updates_the_same_findings() {
    let moto = Moto::start();
    seed(&moto).await;
    let securityhub = aws_sdk_securityhub::Client::new(&moto.sdk_config().await);
    securityhub.enable_security_hub().send().await.unwrap();
    let vars = [("PROTECTED_PRINCIPALS", PROTECTED)];
    let t0 = Utc::now();
    let responder = moto
        .responder(&vars)
        .await
        .playing(Playbook::Audit)
        .with_clock(move || t0);

    let first = audit(&responder, json!({"audit": "scheduled"})).await;
    assert_eq!(first["status"], "audited", "{first:#}");
    let (report, got) = verdicts(&moto, &first).await;
    let failed = |check: &str, resource: String| ((check.to_owned(), resource), Compliance::Failed);
    let passed = |check: &str, resource: String| ((check.to_owned(), resource), Compliance::Passed);
    let expected = [
        failed("root-mfa", account()),
        passed("root-access-keys", account()),
        failed("console-mfa", arn("user", "bob")),
        passed("console-mfa", arn("user", "alice")),
        passed("key-rotated", arn("user", "svc-build")),
        passed("unused-credentials", arn("user", "svc-build")),
        failed("one-active-key", arn("user", "svc-build")),
        passed("one-active-key", arn("user", "carol")),
        failed("application-keys", arn("user", "svc-build")),
        passed("application-keys", arn("user", "svc-idle")),
        failed("password-length", account()),
        failed("password-reuse", account()),
        failed("password-complexity", account()),
        failed("direct-policies", arn("user", "bob")),
        passed("direct-policies", arn("user", "alice")),
        failed("admin-policy", arn("policy", "PowerAll")),
        passed("admin-policy", arn("policy", "ReadOnlyS3")),
        failed("open-trust", arn("role", "vendor-access")),
        passed("open-trust", arn("role", "partner-access")),
        passed("open-trust", arn("role", "lambda-exec")),
        failed("unbounded-delegation", arn("role", "platform-deployer")),
        passed("unbounded-delegation", arn("role", "team-deployer")),
        failed(
            "break-glass-exists",
            "arn:aws:iam::*:role/EmergencyAccess".into(),
        ),
        passed(
            "break-glass-exists",
            "arn:aws:iam::*:role/BreakGlass".into(),
        ),
        failed("break-glass-mfa", arn("user", "breakglass-user")),
        passed("break-glass-mfa", arn("role", "BreakGlass")),
        failed("break-glass-unused", arn("user", "breakglass-user")),
        passed("break-glass-unused", arn("role", "BreakGlass")),
    ];
    let mut wrong = Vec::new();
    for ((check, resource), status) in &expected {
        match got.get(&(check.clone(), resource.clone())) {
            Some(s) if s == status => {}
            other => wrong.push(format!(
                "{check} {resource}: expected {status:?}, got {other:?}"
            )),
        }
    }
    assert!(wrong.is_empty(), "\n{}\n{report:#?}", wrong.join("\n"));
    // Every check of the table ran in this account but the root's use (moto has no root row).
    for check in tourniquet_aws::audit::CHECKS
        .iter()
        .filter(|c| c.id != "root-unused")
    {
        assert!(
            got.keys().any(|(c, _)| c == check.id),
            "{} gave no verdict",
            check.id
        );
    }
    // The admin policy's finding names who holds it.
    let power = report
        .verdicts
        .iter()
        .find(|v| v.check == "admin-policy" && v.status == Compliance::Failed)
        .unwrap();
    assert_eq!(power.related, [arn("role", "ops-admin")]);

    // Security Hub holds exactly the failures, by their stable ids.
    let findings = hub(&moto).await;
    let failures: Vec<String> = report
        .verdicts
        .iter()
        .filter(|v| v.status == Compliance::Failed)
        .map(|v| format!("tourniquet-audit/{ACCOUNT}/{}", v.key()))
        .collect();
    assert_eq!(findings.len(), failures.len(), "{findings:#?}");
    assert_eq!(first["findings_imported"], failures.len());
    for id in &failures {
        assert_eq!(findings[id].0, "FAILED", "{id}");
    }

    // A hundred days later, after bob got MFA and lost his own policy and the password policy
    // was fixed: what was fixed is PASSED under the same id, the keys have aged into failures,
    // and a failure that stayed keeps the day it was first seen.
    let iam = moto.iam().await;
    enable_mfa(&iam, "bob").await;
    iam.delete_user_policy()
        .user_name("bob")
        .policy_name("extra")
        .send()
        .await
        .unwrap();
    iam.update_account_password_policy()
        .minimum_password_length(14)
        .password_reuse_prevention(24)
        .require_uppercase_characters(true)
        .require_lowercase_characters(true)
        .require_numbers(true)
        .require_symbols(true)
        .send()
        .await
        .unwrap();
    let later = t0 + TimeDelta::days(100);
    let responder = moto
        .responder(&vars)
        .await
        .playing(Playbook::Audit)
        .with_clock(move || later);
    let second = audit(&responder, json!({})).await;
    let (report2, got2) = verdicts(&moto, &second).await;
    for (check, resource) in [
        ("console-mfa", arn("user", "bob")),
        ("direct-policies", arn("user", "bob")),
        ("password-length", account()),
        ("password-reuse", account()),
        ("password-complexity", account()),
        ("break-glass-unused", arn("user", "breakglass-user")),
    ] {
        assert_eq!(
            got2[&(check.to_owned(), resource.clone())],
            Compliance::Passed,
            "{check} {resource}"
        );
        let id = format!("tourniquet-audit/{ACCOUNT}/{check}/{resource}");
        assert!(
            report2.resolved.contains(&format!("{check}/{resource}")),
            "{id} resolved"
        );
        assert_eq!(hub(&moto).await[&id].0, "PASSED", "{id} updated in place");
    }
    for (check, user) in [
        ("key-rotated", "svc-build"),
        ("unused-credentials", "svc-build"),
        ("unused-credentials", "carol"),
    ] {
        assert_eq!(
            got2[&(check.to_owned(), arn("user", user))],
            Compliance::Failed,
            "{check} {user}"
        );
    }
    let stayed = format!(
        "tourniquet-audit/{ACCOUNT}/open-trust/{}",
        arn("role", "vendor-access")
    );
    let findings2 = hub(&moto).await;
    let (status, created, updated) = &findings2[&stayed];
    assert_eq!(status, "FAILED");
    assert_eq!(created, &report.audited_at, "first seen in the first audit");
    assert_eq!(updated, &report2.audited_at);
    // One finding per (check, resource), ever: the second run added only the new failures.
    let new_failures = report2
        .verdicts
        .iter()
        .filter(|v| {
            v.status == Compliance::Failed
                && !failures.contains(&format!("tourniquet-audit/{ACCOUNT}/{}", v.key()))
        })
        .count();
    assert_eq!(findings2.len(), failures.len() + new_failures);
    assert!(
        second["summary"]
            .as_str()
            .unwrap()
            .contains("fixed since the last audit"),
        "{second:#}"
    );
}

#[tokio::test]
async fn contain_ignores_the_audits_own_findings() {
    let moto = Moto::start();
    seed(&moto).await;
    let responder = moto.responder(&[]).await.playing(Playbook::Audit);
    let answer = audit(&responder, json!({})).await;
    let key = stored(&answer, "/findings.json");
    let findings: Value =
        serde_json::from_slice(&evidence_body(&moto.s3().await, &key).await).unwrap();
    let on_bob: Vec<Value> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["Resources"][0]["Id"] == arn("user", "bob"))
        .cloned()
        .collect();
    assert!(!on_bob.is_empty(), "{findings:#}");
    // Security Hub's EventBridge event for the imported findings, as contain would receive it.
    let mut e = event("securityhub-imported-guardduty.json");
    e["account"] = json!(ACCOUNT);
    e["detail"]["findings"] = json!(on_bob);
    let iam = moto.iam().await;
    let before = user_state(&iam, "bob").await;
    let contain = moto.responder(&[]).await;
    let report = contain.handle(e).await.expect("ignored, not an error");
    assert_eq!(report.status, Status::Ignored, "{report:#?}");
    assert_eq!(user_state(&iam, "bob").await, before, "nothing changed");
}

#[tokio::test]
async fn a_malformed_request_names_its_field_and_reads_nothing() {
    let moto = Moto::start();
    let responder = moto.responder(&[]).await.playing(Playbook::Audit);
    let err = responder
        .invoke(json!({"dry_run": true, "accounts": "all"}), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("accounts") && err.contains("nothing was changed"),
        "{err}"
    );
    let err = responder
        .invoke(json!({"dry_run": "yes"}), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("dry_run"), "{err}");
}

#[tokio::test]
async fn a_dry_run_imports_and_stores_nothing() {
    let moto = Moto::start();
    seed(&moto).await;
    let responder = moto.responder(&[]).await.playing(Playbook::Audit);
    let answer = audit(&responder, json!({"dry_run": true})).await;
    assert_eq!(answer["status"], "planned");
    assert!(!answer["failed"].as_array().unwrap().is_empty());
    assert_eq!(answer["findings_imported"], 0);
    assert!(harness::evidence_keys(&moto.s3().await).await.is_empty());
    assert!(hub(&moto).await.is_empty());
}

const REPORT_HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

/// IAM, mocked where moto cannot answer: a credential report with the root user's row and the
/// account summary's root flags; no password policy; no principals.
fn iam_with_root(row: String, mfa: i32, keys: i32) -> Client {
    let generate = mock!(Client::generate_credential_report).then_output(|| {
        GenerateCredentialReportOutput::builder()
            .state(ReportStateType::Complete)
            .build()
    });
    let csv = format!("{REPORT_HEADER}\n{row}\n");
    let report = mock!(Client::get_credential_report).then_output(move || {
        GetCredentialReportOutput::builder()
            .content(aws_smithy_types::Blob::new(csv.clone()))
            .build()
    });
    let summary = mock!(Client::get_account_summary).then_output(move || {
        GetAccountSummaryOutput::builder()
            .summary_map(SummaryKeyType::AccountMfaEnabled, mfa)
            .summary_map(SummaryKeyType::AccountAccessKeysPresent, keys)
            .build()
    });
    let policy = mock!(Client::get_account_password_policy).then_error(|| {
        // As IAM answers: the error code is what the responder reads.
        GetAccountPasswordPolicyError::NoSuchEntityException(
            NoSuchEntityException::builder()
                .meta(
                    aws_smithy_types::error::ErrorMetadata::builder()
                        .code("NoSuchEntity")
                        .build(),
                )
                .build(),
        )
    });
    let details = mock!(Client::get_account_authorization_details)
        .then_output(|| GetAccountAuthorizationDetailsOutput::builder().build());
    mock_client!(
        aws_sdk_iam,
        RuleMode::MatchAny,
        [&generate, &report, &summary, &policy, &details]
    )
}

fn day(days_ago: i64) -> String {
    (Utc::now() - TimeDelta::days(days_ago))
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

async fn root_verdicts(moto: &Moto, iam: Client) -> BTreeMap<String, String> {
    let sdk = moto.sdk_config().await;
    let responder = Responder::with_clients(
        iam,
        harness::s3_client(&sdk),
        aws_sdk_sts::Client::new(&sdk),
        harness::config(&[("DRY_RUN", "true")]),
    )
    .playing(Playbook::Audit);
    let answer = audit(&responder, json!({})).await;
    let failed: BTreeMap<String, String> = answer["failed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["check"].as_str().unwrap().starts_with("root-"))
        .map(|v| {
            (
                v["check"].as_str().unwrap().to_owned(),
                v["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    failed
}

#[tokio::test]
async fn the_root_users_mfa_keys_and_use_come_from_its_row_and_the_summary() {
    let moto = Moto::start();
    let root = |mfa: &str, key: &str, used: String| {
        format!(
            "<root_account>,arn:aws:iam::{ACCOUNT}:root,{},not_supported,{used},not_supported,not_supported,{mfa},{key},{},N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
            day(2000),
            if key == "true" {
                day(900)
            } else {
                "N/A".into()
            },
        )
    };
    // MFA, an active key, signed in ten days ago.
    let bad = root_verdicts(&moto, iam_with_root(root("false", "true", day(10)), 0, 1)).await;
    assert_eq!(
        bad.keys().collect::<Vec<_>>(),
        ["root-access-keys", "root-mfa", "root-unused"],
        "{bad:#?}"
    );
    assert!(bad["root-unused"].contains("used on"), "{bad:#?}");
    // The summary alone reports a key the row does not show active (an inactive one is present).
    let inactive = root_verdicts(&moto, iam_with_root(root("true", "false", day(400)), 1, 1)).await;
    assert_eq!(
        inactive.keys().collect::<Vec<_>>(),
        ["root-access-keys"],
        "{inactive:#?}"
    );
    // MFA, no key, last signed in 400 days ago: every root check passes.
    let good = root_verdicts(&moto, iam_with_root(root("true", "false", day(400)), 1, 0)).await;
    assert!(good.is_empty(), "{good:#?}");
}

#[tokio::test]
async fn a_security_hub_that_refuses_the_import_leaves_a_warning_and_the_report_stored() {
    use aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsError;
    use aws_sdk_securityhub::types::error::InvalidAccessException;
    let moto = Moto::start();
    seed(&moto).await;
    // Security Hub not enabled in the account: AWS refuses every import (moto accepts them).
    let refused = mock!(aws_sdk_securityhub::Client::batch_import_findings).then_error(|| {
        BatchImportFindingsError::InvalidAccessException(
            InvalidAccessException::builder()
                .message("Account 111122223333 is not subscribed to AWS Security Hub")
                .build(),
        )
    });
    let hub = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&refused]);
    let sdk = moto.sdk_config().await;
    let responder = moto
        .responder(&[])
        .await
        .with_notify_clients(aws_sdk_sns::Client::new(&sdk), hub)
        .playing(Playbook::Audit);
    let answer = audit(&responder, json!({})).await;
    assert_eq!(answer["status"], "audited", "{answer:#}");
    assert_eq!(answer["findings_imported"], 0);
    assert!(
        answer["warnings"].to_string().contains("not subscribed"),
        "{answer:#}"
    );
    let (report, verdicts) = verdicts(&moto, &answer).await;
    assert!(!verdicts.is_empty());
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("BatchImportFindings")),
        "{:?}",
        report.warnings
    );
    assert_eq!(refused.num_calls(), 1, "one batch, not retried into a loop");
}
