//! Many accounts against a multi-account moto: a principal in a member account is contained there
//! through the member role and nowhere else, evidence stays central, and an account that cannot be
//! entered fails alone.

use aws_sdk_iam::types::StatusType;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use harness::{
    BUCKET, MEMBER_ROLE, Moto, OWN_ACCOUNT, evidence_keys, guardduty_finding, key_statuses,
    seed_user,
};
use tourniquet_aws::report::Status;
use tourniquet_aws::{Playbook, Responder};

const MEMBER: &str = "111122223333";
const OTHER_MEMBER: &str = "222233334444";

async fn member_responder(moto: &Moto) -> Responder {
    moto.responder(&[("MEMBER_ROLE_NAME", MEMBER_ROLE)]).await
}

#[tokio::test]
async fn a_finding_in_a_member_account_is_contained_there_and_nowhere_else() {
    let moto = Moto::start_multi_account();
    let member = moto.iam_in(MEMBER).await;
    let user = seed_user(&member, "ci-deployer").await;
    assert!(user.arn.contains(MEMBER), "{}", user.arn);
    let responder = member_responder(&moto).await;

    let report = responder
        .handle(guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("contained");

    assert_eq!(report.status, Status::Contained);
    assert_eq!(report.targets[0].account_id, MEMBER);
    assert!(
        key_statuses(&member, &user.name)
            .await
            .iter()
            .all(|(_, s)| *s == StatusType::Inactive)
    );
    member
        .get_user_policy()
        .user_name(&user.name)
        .policy_name("TourniquetDenyAll")
        .send()
        .await
        .expect("the deny is in the member account");
    let own = moto.iam().await;
    assert!(
        own.list_users().send().await.unwrap().users.is_empty(),
        "nothing in the responder's account"
    );
    let stored = evidence_keys(&moto.s3().await).await;
    assert!(
        stored
            .iter()
            .any(|k| k.ends_with(&format!("/{MEMBER}/user/ci-deployer/snapshot.json"))),
        "evidence goes to the central bucket: {stored:?}"
    );
}

#[tokio::test]
async fn without_a_member_role_another_account_is_refused_with_what_to_do() {
    let moto = Moto::start_multi_account();
    let member = moto.iam_in(MEMBER).await;
    let user = seed_user(&member, "ci-deployer").await;
    let responder = moto.responder(&[]).await;

    let report = responder
        .handle(guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("refusal is not an error");

    assert_eq!(report.status, Status::Refused);
    let message = report.targets[0].message.as_deref().unwrap();
    assert!(
        message.contains("MEMBER_ROLE_NAME") && message.contains("member-role.yaml"),
        "{message}"
    );
    assert!(
        key_statuses(&member, &user.name)
            .await
            .iter()
            .all(|(_, s)| *s == StatusType::Active)
    );
}

#[tokio::test]
async fn one_event_naming_principals_in_three_accounts_contains_each_in_its_own() {
    let moto = Moto::start_multi_account();
    let own = seed_user(&moto.iam().await, "ops-bot").await;
    let first = moto.iam_in(MEMBER).await;
    let second = moto.iam_in(OTHER_MEMBER).await;
    let a = seed_user(&first, "ci-deployer").await;
    let b = seed_user(&second, "build-bot").await;
    let responder = member_responder(&moto).await;

    let report = responder
        .handle(harness::custom_action(&[&own.arn, &a.arn, &b.arn]))
        .await
        .expect("contained");

    assert_eq!(report.status, Status::Contained);
    let accounts: Vec<&str> = report
        .targets
        .iter()
        .map(|t| t.account_id.as_str())
        .collect();
    assert_eq!(accounts, [OWN_ACCOUNT, MEMBER, OTHER_MEMBER]);
    for (iam, user) in [(&moto.iam().await, &own), (&first, &a), (&second, &b)] {
        let keys = key_statuses(iam, &user.name).await;
        assert!(
            keys.iter().all(|(_, s)| *s == StatusType::Inactive),
            "{}: {keys:?}",
            user.arn
        );
    }
    // identity with the ledger and intent, entering both member accounts at once, wave 1,
    // details, managed versions, evidence, manifest
    assert_eq!(report.waves, 7);
}

/// What the responder asked STS for.
#[derive(Clone)]
struct AssumeRequest {
    role: String,
    session: String,
    duration: Option<i32>,
    external: Option<String>,
}

/// An STS that answers who we are and refuses every member role (no role there, or trust
/// refused), recording what was asked.
fn refusing_sts() -> (
    aws_sdk_sts::Client,
    std::sync::Arc<std::sync::Mutex<Vec<AssumeRequest>>>,
) {
    let identity = mock!(aws_sdk_sts::Client::get_caller_identity).then_output(|| {
        GetCallerIdentityOutput::builder()
            .account(OWN_ACCOUNT)
            .arn(format!("arn:aws:iam::{OWN_ACCOUNT}:user/moto"))
            .build()
    });
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = asked.clone();
    let refused = mock!(aws_sdk_sts::Client::assume_role).then_compute_response(move |request| {
        seen.lock().unwrap().push(AssumeRequest {
            role: request.role_arn().unwrap_or_default().to_owned(),
            session: request.role_session_name().unwrap_or_default().to_owned(),
            duration: request.duration_seconds(),
            external: request.external_id().map(str::to_owned),
        });
        aws_smithy_mocks::MockResponse::Error(AssumeRoleError::generic(
            aws_sdk_sts::error::ErrorMetadata::builder()
                .code("AccessDenied")
                .message("User is not authorized to perform: sts:AssumeRole")
                .build(),
        ))
    });
    (
        mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&identity, &refused]),
        asked,
    )
}

#[tokio::test]
async fn the_read_only_snapshot_enters_member_accounts_with_the_read_only_role() {
    let moto = Moto::start_multi_account();
    let sdk = moto.sdk_config().await;
    let s3 = harness::s3_client(&sdk);
    harness::create_bucket(&s3).await;
    let (sts, asked) = refusing_sts();
    let config = harness::config(&[("MEMBER_ROLE_NAME", MEMBER_ROLE)]);
    let responder = Responder::with_clients(aws_sdk_iam::Client::new(&sdk), s3, sts, config)
        .playing(Playbook::Snapshot);
    let elsewhere = format!("arn:aws:iam::{OTHER_MEMBER}:user/build-bot");

    let _ = responder
        .handle(harness::custom_action(&[&elsewhere]))
        .await;

    let roles: Vec<String> = asked
        .lock()
        .unwrap()
        .iter()
        .map(|a| a.role.clone())
        .collect();
    assert_eq!(
        roles,
        [format!(
            "arn:aws:iam::{OTHER_MEMBER}:role/{MEMBER_ROLE}Read"
        )],
        "snapshot may only assume the read-only member role"
    );
}

#[tokio::test]
async fn an_account_that_cannot_be_entered_fails_alone_and_says_why() {
    let moto = Moto::start_multi_account();
    let own = seed_user(&moto.iam().await, "ops-bot").await;
    let sdk = moto.sdk_config().await;
    let s3 = harness::s3_client(&sdk);
    harness::create_bucket(&s3).await;
    let (sts, asked) = refusing_sts();
    let config = harness::config(&[
        ("MEMBER_ROLE_NAME", MEMBER_ROLE),
        ("MEMBER_EXTERNAL_ID", "tq-ext-1"),
    ]);
    let responder =
        Responder::with_clients(aws_sdk_iam::Client::new(&sdk), s3.clone(), sts, config);
    let elsewhere = format!("arn:aws:iam::{OTHER_MEMBER}:user/build-bot");

    let err = responder
        .handle(harness::custom_action(&[&own.arn, &elsewhere]))
        .await
        .expect_err("a target that could not be contained fails the invocation");

    let tourniquet_aws::Error::Partial { report, summary } = err else {
        panic!("partial expected")
    };
    assert_eq!(
        report.targets[0].status,
        Status::Contained,
        "the own account's target proceeds"
    );
    assert!(
        key_statuses(&moto.iam().await, &own.name)
            .await
            .iter()
            .all(|(_, s)| *s == StatusType::Inactive)
    );
    let failed = &report.targets[1];
    assert_eq!(
        (failed.status, failed.account_id.as_str()),
        (Status::Partial, OTHER_MEMBER)
    );
    let message = failed.message.as_deref().unwrap();
    assert!(
        message.contains("cannot enter account 222233334444") && message.contains("AccessDenied"),
        "{message}"
    );
    assert!(summary.contains("222233334444"), "{summary}");
    let AssumeRequest {
        role,
        session,
        duration,
        external,
    } = asked.lock().unwrap()[0].clone();
    assert_eq!(
        role,
        format!("arn:aws:iam::{OTHER_MEMBER}:role/{MEMBER_ROLE}Contain"),
        "contain enters with the containment member role"
    );
    assert!(session.starts_with("tourniquet-securityhub-"), "{session}");
    assert_eq!(duration, Some(900), "the shortest session STS allows");
    assert_eq!(external.as_deref(), Some("tq-ext-1"));
    assert!(
        !evidence_keys(&s3).await.is_empty(),
        "the report is stored centrally"
    );
    let _ = BUCKET;
}
