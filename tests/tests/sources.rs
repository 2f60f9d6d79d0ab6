//! Every source end to end against moto: Health keys resolved to their users, a Security Hub
//! custom action naming a user and a role, CloudTrail's acting principal, and the responder's own
//! calls ignored.

use aws_sdk_iam::types::StatusType;
use harness::{Moto, cutoff_in, event, key_statuses, role_state, seed_role, seed_user, user_state};
use serde_json::Value;
use tourniquet_aws::report::{Outcome, Status};

fn all_inactive(keys: &[(String, StatusType)]) -> bool {
    keys.iter().all(|(_, s)| *s == StatusType::Inactive)
}

#[tokio::test]
async fn a_health_event_resolves_each_exposed_key_to_its_user_and_contains_both() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let deployer = seed_user(&iam, "ci-deployer").await;
    let bot = seed_user(&iam, "build-bot").await;
    let responder = moto.responder(&[]).await;
    let mut health = event("health-iam-quarantine.json");
    health["detail"]["affectedEntities"][0]["entityValue"] = deployer.keys[0].clone().into();
    health["detail"]["affectedEntities"][1]["entityValue"] = bot.keys[1].clone().into();

    let report = responder.handle(health).await.expect("contained");

    assert_eq!(report.status, Status::Contained);
    let arns: Vec<&str> = report
        .targets
        .iter()
        .map(|t| t.principal_arn.as_str())
        .collect();
    assert_eq!(arns, [deployer.arn.as_str(), bot.arn.as_str()]);
    assert!(all_inactive(&key_statuses(&iam, "ci-deployer").await));
    assert!(all_inactive(&key_statuses(&iam, "build-bot").await));
}

#[tokio::test]
async fn the_health_backup_copy_from_the_second_region_changes_nothing() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let responder = moto.responder(&[]).await;
    let with_key = |name: &str| {
        let mut e = event(name);
        e["detail"]["affectedEntities"][0]["entityValue"] = user.keys[0].clone().into();
        e
    };

    let primary = responder
        .handle(with_key("health-credentials-exposed.json"))
        .await
        .expect("contained");
    let after = user_state(&iam, &user.name).await;
    let backup = responder
        .handle(with_key("health-credentials-exposed-backup-region.json"))
        .await
        .expect("replayed");

    assert_eq!(backup.incident_id, primary.incident_id);
    assert!(
        harness::steps(&backup.targets[0]).all(|s| s.outcome == Outcome::AlreadyInPlace),
        "{:?}",
        backup.targets[0].steps
    );
    assert_eq!(user_state(&iam, &user.name).await, after);
}

#[tokio::test]
async fn a_health_key_of_another_account_is_refused() {
    let moto = Moto::start();
    let responder = moto.responder(&[]).await;
    let mut health = event("health-credentials-exposed.json");
    health["detail"]["affectedAccount"] = "444455556666".into();

    let report = responder
        .handle(health)
        .await
        .expect("refusal is not an error");

    assert_eq!(report.status, Status::Refused);
    assert!(
        report.targets[0]
            .message
            .as_deref()
            .unwrap()
            .contains("444455556666")
    );
}

#[tokio::test]
async fn a_security_hub_custom_action_contains_every_principal_it_names() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let role = seed_role(&iam, "app-worker", "/service/").await;
    let responder = moto.responder(&[]).await;
    let mut action = event("securityhub-custom-action.json");
    let resource = &mut action["detail"]["findings"][0]["Resources"][0];
    resource["Id"] = format!("AWS::IAM::AccessKey:{}", user.keys[0]).into();
    resource["Details"]["AwsIamAccessKey"]["AccessKeyId"] = user.keys[0].clone().into();

    let report = responder.handle(action).await.expect("contained");

    assert_eq!(report.status, Status::Contained);
    let arns: Vec<&str> = report
        .targets
        .iter()
        .map(|t| t.principal_arn.as_str())
        .collect();
    assert_eq!(arns, [user.arn.as_str(), role.arn.as_str()]);
    assert!(all_inactive(&key_statuses(&iam, &user.name).await));
    assert!(cutoff_in(&role_state(&iam, &role.name).await).is_some());
}

#[tokio::test]
async fn a_cloudtrail_event_contains_the_principal_that_made_the_call() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let responder = moto.responder(&[]).await;
    let mut call = event("cloudtrail-api-call-user.json");
    call["detail"]["userIdentity"]["arn"] = user.arn.clone().into();
    call["detail"]["userIdentity"]["accessKeyId"] = user.keys[1].clone().into();

    let report = responder.handle(call).await.expect("contained");

    assert_eq!(report.targets[0].principal_arn, user.arn);
    let named = &report.targets[0].steps[2];
    assert_eq!(
        (named.target.as_str(), named.outcome),
        (user.keys[1].as_str(), Outcome::Applied)
    );
    assert!(all_inactive(&key_statuses(&iam, &user.name).await));
}

#[tokio::test]
async fn the_responders_own_calls_in_cloudtrail_never_trigger_it() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    // The emulator's default caller, which the responder runs as, is the user `moto`.
    seed_user(&iam, "moto").await;
    let before = user_state(&iam, "moto").await;
    let responder = moto.responder(&[]).await;
    let mut own: Value = event("cloudtrail-responder-own-call.json");
    own["detail"]["userIdentity"] = serde_json::json!({
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEMOTO00001",
        "arn": "arn:aws:iam::111122223333:user/moto",
        "accountId": "111122223333",
        "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
        "userName": "moto"
    });

    let report = responder.handle(own).await.expect("ignored");

    assert_eq!(report.status, Status::Ignored);
    assert!(report.message.as_deref().unwrap().contains("own identity"));
    assert!(report.evidence.is_empty());
    assert_eq!(user_state(&iam, "moto").await, before);
}
