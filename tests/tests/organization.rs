//! Where an incident's targets are, and who may aim the work queue: organization-wide requests
//! resolved through AWS Organizations (nested units, the management account left out), a lone key
//! routed to its account by `sts:GetAccessKeyInfo`, protected accounts, and work items that are
//! not what their incident's dispatch says. Against a multi-account moto, read back from IAM.

use aws_sdk_iam::types::StatusType;
use aws_sdk_organizations::types::OrganizationFeatureSet;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use harness::{
    MEMBER_ROLE, Moto, OWN_ACCOUNT, cutoff_in, key_statuses, role_state, seed_role, seed_user,
};
use serde_json::{Value, json};
use tourniquet_aws::report::Status;

const MEMBER: &str = "111122223333";

/// An organization: the emulator's own account manages it; returns (root id, organizations client).
async fn organization(moto: &Moto) -> (String, aws_sdk_organizations::Client) {
    let org = aws_sdk_organizations::Client::new(&moto.sdk_config().await);
    org.create_organization()
        .feature_set(OrganizationFeatureSet::All)
        .send()
        .await
        .expect("organization");
    let root = org.list_roots().send().await.expect("roots").roots.unwrap()[0]
        .id
        .clone()
        .unwrap();
    (root, org)
}

async fn account(org: &aws_sdk_organizations::Client, name: &str) -> String {
    org.create_account()
        .account_name(name)
        .email(format!("{name}@example.com"))
        .send()
        .await
        .expect("account")
        .create_account_status
        .and_then(|s| s.account_id)
        .expect("account id")
}

async fn unit(org: &aws_sdk_organizations::Client, parent: &str, name: &str) -> String {
    org.create_organizational_unit()
        .parent_id(parent)
        .name(name)
        .send()
        .await
        .expect("unit")
        .organizational_unit
        .and_then(|u| u.id)
        .expect("unit id")
}

async fn move_to(org: &aws_sdk_organizations::Client, account: &str, from: &str, to: &str) {
    org.move_account()
        .account_id(account)
        .source_parent_id(from)
        .destination_parent_id(to)
        .send()
        .await
        .expect("move");
}

#[tokio::test]
async fn an_organizational_unit_selects_the_accounts_under_it_nested_units_included() {
    let moto = Moto::start_multi_account();
    let (root, org) = organization(&moto).await;
    let (prod, dev) = (account(&org, "prod").await, account(&org, "dev").await);
    let nested = account(&org, "prod-eu").await;
    let workloads = unit(&org, &root, "workloads").await;
    let europe = unit(&org, &workloads, "europe").await;
    move_to(&org, &prod, &root, &workloads).await;
    move_to(&org, &nested, &root, &europe).await;
    let responder = moto
        .responder(&[("MEMBER_ROLE_NAME", MEMBER_ROLE), ("DRY_RUN", "true")])
        .await;

    let report = responder
        .handle(json!({"principal_name": "role/ci-deployer", "accounts": {"ou": workloads}}))
        .await
        .expect("a plan");

    let mut accounts: Vec<&str> = report
        .targets
        .iter()
        .map(|t| t.account_id.as_str())
        .collect();
    accounts.sort_unstable();
    let mut expected = [prod.as_str(), nested.as_str()];
    expected.sort_unstable();
    assert_eq!(accounts, expected, "not {dev}, which is outside the unit");
    assert!(
        report
            .targets
            .iter()
            .all(|t| t.principal_arn.ends_with(":role/ci-deployer"))
    );
}

#[tokio::test]
async fn an_organization_wide_request_never_contains_the_management_account_or_a_protected_one() {
    let moto = Moto::start_multi_account();
    let (_, org) = organization(&moto).await;
    let (kept, protected) = (account(&org, "kept").await, account(&org, "audit").await);
    let own_iam = moto.iam().await;
    seed_role(&own_iam, "ci-deployer", "/").await;
    for a in [&kept, &protected] {
        seed_role(&moto.iam_in(a).await, "ci-deployer", "/").await;
    }
    let responder = moto
        .responder(&[
            ("MEMBER_ROLE_NAME", MEMBER_ROLE),
            ("PROTECTED_ACCOUNTS", &protected),
        ])
        .await;

    let report = responder
        .handle(json!({"principal_name": "role/ci-deployer", "accounts": "all"}))
        .await
        .expect("contained where allowed");

    let status_of = |account: &str| {
        report
            .targets
            .iter()
            .find(|t| t.account_id == account)
            .map(|t| (t.status, t.message.clone().unwrap_or_default()))
            .unwrap()
    };
    let (management, why) = status_of(OWN_ACCOUNT);
    assert_eq!(management, Status::Refused);
    assert!(why.contains("management account"), "{why}");
    let (audit, why) = status_of(&protected);
    assert_eq!(audit, Status::Refused);
    assert!(why.contains("PROTECTED_ACCOUNTS"), "{why}");
    assert_eq!(status_of(&kept).0, Status::Contained);
    assert!(cutoff_in(&role_state(&own_iam, "ci-deployer").await).is_none());
    assert!(cutoff_in(&role_state(&moto.iam_in(&protected).await, "ci-deployer").await).is_none());
    assert!(cutoff_in(&role_state(&moto.iam_in(&kept).await, "ci-deployer").await).is_some());
}

#[tokio::test]
async fn a_lone_key_of_another_account_is_contained_in_the_account_sts_names() {
    let moto = Moto::start_multi_account();
    let member = moto.iam_in(MEMBER).await;
    let user = seed_user(&member, "ci-deployer").await;
    let responder = moto.responder(&[("MEMBER_ROLE_NAME", MEMBER_ROLE)]).await;

    let report = responder
        .handle(json!({"access_key_id": user.keys[0]}))
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
}

#[tokio::test]
async fn organization_requests_that_cannot_be_read_name_the_field_and_change_nothing() {
    let moto = Moto::start_multi_account();
    let responder = moto.responder(&[("MEMBER_ROLE_NAME", MEMBER_ROLE)]).await;
    for (request, field) in [
        (json!({"principal_name": "role/ci-deployer"}), "accounts"),
        (json!({"accounts": "all"}), "principal_name"),
        (
            json!({"principal_name": "arn:aws:iam::111122223333:role/x", "accounts": "all"}),
            "principal_name",
        ),
        (
            json!({"principal_name": "root", "accounts": "all"}),
            "principal_name",
        ),
        (
            json!({"principal_name": "role/x", "accounts": "everything"}),
            "accounts",
        ),
        (
            json!({"principal_name": "role/x", "accounts": []}),
            "accounts",
        ),
        (
            json!({"principal_name": "role/x", "accounts": ["12"]}),
            "accounts[0]",
        ),
        (
            json!({"principal_name": "role/x", "accounts": {"ou": "ou-../x"}}),
            "accounts.ou",
        ),
        (
            json!({"principal_name": "role/x", "principal_arn": "arn:aws:iam::111122223333:role/x", "accounts": "all"}),
            "principal_name",
        ),
    ] {
        let err = responder
            .handle(request.clone())
            .await
            .expect_err("invalid");
        let tourniquet_aws::Error::InvalidEvent(e) = err else {
            panic!("{request}: not an invalid event: {err}")
        };
        assert_eq!(e.field, field, "{request}: {}", e.message);
    }
    // An organization with no account selected: nothing to do, said so.
    let err = responder
        .handle(json!({"principal_name": "role/ci-deployer", "accounts": "all"}))
        .await
        .expect_err("no account");
    assert!(
        err.to_string().contains("selects no active account"),
        "{err}"
    );
}

/// Outside the management account (or a delegated administrator), Organizations refuses
/// `ListAccounts`: moto answers every account, so the refusal is injected.
#[tokio::test]
async fn outside_the_management_account_an_organization_wide_request_says_where_to_run_it() {
    let moto = Moto::start_multi_account();
    let refused = || {
        aws_sdk_organizations::error::ErrorMetadata::builder()
            .code("AccessDeniedException")
            .message("You don't have permissions to access this resource.")
            .build()
    };
    let list = mock!(aws_sdk_organizations::Client::list_accounts).then_error(move || {
        aws_sdk_organizations::operation::list_accounts::ListAccountsError::generic(refused())
    });
    let describe = mock!(aws_sdk_organizations::Client::describe_organization).then_error(move || {
        aws_sdk_organizations::operation::describe_organization::DescribeOrganizationError::generic(
            refused(),
        )
    });
    let org = mock_client!(
        aws_sdk_organizations,
        RuleMode::MatchAny,
        [&list, &describe]
    );
    let sdk = moto.sdk_config().await;
    let responder = moto
        .responder(&[("MEMBER_ROLE_NAME", MEMBER_ROLE)])
        .await
        .with_fanout_clients(aws_sdk_sqs::Client::new(&sdk), org);

    let err = responder
        .handle(json!({"principal_name": "role/ci-deployer", "accounts": "all"}))
        .await
        .expect_err("refused by Organizations");

    let text = err.to_string();
    assert!(
        text.contains("organizations:ListAccounts failed")
            && text.contains("AccessDeniedException")
            && text.contains("management account or a delegated administrator")
            && text.contains("nothing was changed"),
        "{text}"
    );
}

/// A work item as the queue would deliver it.
fn delivery(body: &Value) -> Value {
    json!({"Records": [{
        "messageId": "m-1", "receiptHandle": "r-1", "body": body.to_string(),
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:tq-work",
        "awsRegion": "us-east-1"}]})
}

#[tokio::test]
async fn a_work_item_that_its_dispatch_does_not_back_changes_nothing_and_goes_to_the_dead_letters()
{
    let moto = Moto::start_multi_account();
    let (victim, target) = ("222233334444", "333344445555");
    for a in [victim, target] {
        seed_role(&moto.iam_in(a).await, "ci-deployer", "/").await;
    }
    let sdk = moto.sdk_config().await;
    let queues = harness::esm::Queues::new(&sdk, 1, 2).await;
    let responder = moto
        .responder(&[
            ("MEMBER_ROLE_NAME", MEMBER_ROLE),
            ("WORK_QUEUE_URL", &queues.work),
            ("FANOUT_ACCOUNTS_THRESHOLD", "1"),
        ])
        .await;
    let dispatched = responder
        .handle(
            json!({"principal_name": "role/ci-deployer", "accounts": [target, "444455556666"],
                       "incident_id": "IR-Q"}),
        )
        .await
        .expect("dispatched");
    assert_eq!(dispatched.status, Status::Dispatched);
    let status = responder
        .invoke(json!({"incident_id": "IR-Q", "status": true}), None)
        .await
        .unwrap();
    let dispatch = status["dispatched_at"].as_str().unwrap().to_owned();
    let cutoff = status["cutoff"].as_str().unwrap().to_owned();
    let genuine = json!({"tourniquet": "work-item", "incident_id": "IR-Q", "dispatch": dispatch,
                         "item": 0, "account_id": target, "cutoff": cutoff});

    let mut aimed_elsewhere = genuine.clone();
    aimed_elsewhere["account_id"] = victim.into();
    let mut no_dispatch = genuine.clone();
    no_dispatch["dispatch"] = "20250101T000000.000Z".into();
    let mut other_incident = genuine.clone();
    other_incident["incident_id"] = "IR-OTHER".into();
    let mut later_cutoff = genuine.clone();
    later_cutoff["cutoff"] = "2099-01-01T00:00:00Z".into();
    let mut with_targets = genuine.clone();
    with_targets["principal_arn"] = format!("arn:aws:iam::{victim}:role/ci-deployer").into();
    for forged in [
        aimed_elsewhere,
        no_dispatch,
        other_incident,
        later_cutoff,
        with_targets,
    ] {
        let answer = responder.invoke(delivery(&forged), None).await.unwrap();
        assert_eq!(
            answer,
            json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]}),
            "{forged}"
        );
    }
    for a in [victim, target] {
        assert!(
            cutoff_in(&role_state(&moto.iam_in(a).await, "ci-deployer").await).is_none(),
            "{a}: nothing changed"
        );
    }

    // The genuine item, delivered twice, contains its account once.
    for _ in 0..2 {
        let answer = responder.invoke(delivery(&genuine), None).await.unwrap();
        assert_eq!(answer, json!({"batchItemFailures": []}));
    }
    let state = role_state(&moto.iam_in(target).await, "ci-deployer").await;
    assert_eq!(cutoff_in(&state), Some(cutoff));
    assert!(cutoff_in(&role_state(&moto.iam_in(victim).await, "ci-deployer").await).is_none());
}

#[tokio::test]
async fn status_says_what_the_evidence_store_knows_of_an_incident_that_was_not_dispatched() {
    let moto = Moto::start_multi_account();
    let user = seed_user(&moto.iam().await, "ops-bot").await;
    let responder = moto.responder(&[]).await;
    let unknown = responder
        .invoke(json!({"incident_id": "IR-NONE", "status": true}), None)
        .await
        .unwrap();
    assert!(
        unknown["status"].as_str().unwrap().starts_with("unknown"),
        "{unknown}"
    );
    responder
        .handle(json!({"principal_arn": user.arn, "incident_id": "IR-ONE"}))
        .await
        .expect("contained");
    let one = responder
        .invoke(json!({"incident_id": "IR-ONE", "status": true}), None)
        .await
        .unwrap();
    assert!(
        one["status"]
            .as_str()
            .unwrap()
            .starts_with("not dispatched: 1 run"),
        "{one}"
    );
    let err = responder
        .invoke(
            json!({"incident_id": "IR-ONE", "status": true, "extra": 1}),
            None,
        )
        .await
        .expect_err("unknown field");
    assert!(err.to_string().contains("extra"), "{err}");
}
