//! Organization scale: an incident across many accounts is dispatched to the work queue and
//! contained account by account by the real `contain` binary, fed by a driver that behaves as
//! Lambda's SQS event source mapping ([`harness::esm`]), on a multi-account moto with AWS
//! Organizations, SQS and SNS. State is read back from IAM, S3 and the queues.

use aws_sdk_iam::types::StatusType;
use harness::esm::{Mapping, Queues};
use harness::lambda::{self, binary, environment};
use harness::{
    Inbox, MEMBER_ROLE, Moto, OWN_ACCOUNT, cutoff_in, evidence_body, key_statuses, role_state,
    seed_role, seed_user,
};
use serde_json::{Value, json};
use std::time::Duration;

/// Creates the organization (the emulator's own account is its management account) and `n`
/// member accounts; returns their ids.
async fn organization(moto: &Moto, n: usize) -> Vec<String> {
    let org = aws_sdk_organizations::Client::new(&moto.sdk_config().await);
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .expect("organization");
    let mut accounts = Vec::new();
    for i in 0..n {
        let status = org
            .create_account()
            .account_name(format!("workload-{i}"))
            .email(format!("workload-{i}@example.com"))
            .send()
            .await
            .expect("account")
            .create_account_status
            .expect("status");
        accounts.push(status.account_id.expect("account id"));
    }
    accounts
}

/// Invokes contain with `request` and checks that it dispatched the incident; its report.
async fn dispatch(env: &[(&'static str, String)], request: &Value) -> Value {
    let report = lambda::invoke(&binary("contain"), env, request)
        .await
        .result
        .expect("an answer");
    assert_eq!(report["status"], "dispatched", "{report:#}");
    report
}

/// The event source mapping of `contain` on the work queue: one item an invocation.
fn mapping<'a>(
    queues: &'a Queues,
    env: &[(&'static str, String)],
    concurrency: usize,
) -> Mapping<'a> {
    Mapping {
        queues,
        binary: binary("contain"),
        env: env.to_vec(),
        batch_size: 1,
        concurrency,
    }
}

/// The evidence bucket, the work queues (redriven after `max_receives`) and contain's environment
/// on them, with `extra`.
async fn work_scene(
    moto: &Moto,
    max_receives: u32,
    extra: &[(&'static str, &str)],
) -> (Queues, Vec<(&'static str, String)>) {
    harness::create_bucket(&moto.s3().await).await;
    let queues = Queues::new(&moto.sdk_config().await, 1, max_receives).await;
    let mut vars = vec![
        ("MEMBER_ROLE_NAME", MEMBER_ROLE),
        ("WORK_QUEUE_URL", queues.work.as_str()),
    ];
    vars.extend_from_slice(extra);
    let env = environment(moto, &vars);
    (queues, env)
}

/// The status of `incident` as contain answers it.
async fn status(env: &[(&'static str, String)], incident: &str) -> Value {
    let answer = lambda::invoke(
        &binary("contain"),
        env,
        &json!({"incident_id": incident, "status": true}),
    )
    .await;
    answer.result.expect("a status")
}

/// The scene: the deploy role of a compromised CI system in every account of the
/// organization; one account's member role cannot be assumed.
#[tokio::test]
async fn thirty_accounts_are_cut_with_one_cutoff_and_the_one_that_cannot_be_entered_is_dead_lettered()
 {
    let moto = Moto::start_multi_account();
    let accounts = organization(&moto, 30).await;
    for account in &accounts {
        seed_role(&moto.iam_in(account).await, "ci-deployer", "/").await;
    }
    let refused = accounts[7].clone();
    // STS refuses the member role there, as a missing member-role.yaml or a trust policy that does
    // not name the function would.
    let proxy = harness::proxy::Refusing::start(
        moto.port,
        vec![format!("RoleArn=arn%3Aaws%3Aiam%3A%3A{refused}%3Arole")],
    )
    .await;
    let inbox = Inbox::new(&moto.sdk_config().await).await;
    let (queues, mut env) = work_scene(&moto, 2, &[("NOTIFY_TOPIC_ARN", &inbox.topic)]).await;
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL", proxy.endpoint.clone()));
    let request = json!({"principal_name": "role/ci-deployer", "accounts": "all",
                         "incident_id": "IR-ORG-1", "reason": "CI system compromised"});

    let report = dispatch(&env, &request).await;

    let targets = report["targets"].as_array().unwrap();
    assert_eq!(
        targets
            .iter()
            .filter(|t| t["status"] == "dispatched")
            .count(),
        30
    );
    let items = report["work_items"].as_array().unwrap();
    assert_eq!(items.len(), 30, "one work item per account");
    assert!(items.iter().all(|i| i["principals"] == 1));
    let management = targets
        .iter()
        .find(|t| t["account_id"] == OWN_ACCOUNT)
        .expect("the management account is in the report");
    assert_eq!(management["status"], "refused");
    assert!(
        management["message"]
            .as_str()
            .unwrap()
            .contains("management account"),
        "{management}"
    );
    let before = status(&env, "IR-ORG-1").await;
    assert_eq!(before["status"], "in_progress");
    assert_eq!(before["counts"], json!({"pending": 30}));
    let cutoff = before["cutoff"].as_str().unwrap().to_owned();
    assert_eq!(
        cutoff_in(&role_state(&moto.iam_in(&accounts[0]).await, "ci-deployer").await),
        None,
        "nothing is contained before its work item runs"
    );

    let deliveries = mapping(&queues, &env, 10)
        .drain(Duration::from_secs(240))
        .await;

    let of_refused: Vec<u32> = deliveries
        .iter()
        .filter(|d| d.bodies[0]["account_id"] == refused.as_str())
        .map(|d| d.receive_counts[0])
        .collect();
    assert_eq!(of_refused, [1, 2], "delivered maxReceiveCount times");
    assert_eq!(
        deliveries.len(),
        31,
        "one invocation per account, two for the refused one"
    );
    let dead = queues.dead_letters().await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["account_id"], refused.as_str());
    for account in &accounts {
        let state = role_state(&moto.iam_in(account).await, "ci-deployer").await;
        let expected = (*account != refused).then_some(cutoff.as_str());
        assert_eq!(
            cutoff_in(&state).as_deref(),
            expected,
            "{account}: the incident's one cutoff everywhere it could enter: {state}"
        );
    }
    let after = status(&env, "IR-ORG-1").await;
    assert_eq!(after["status"], "partial", "{after:#}");
    assert_eq!(after["counts"], json!({"contained": 29, "partial": 1}));
    assert!(after["summary"].is_string(), "{after:#}");
    let item = after["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["account_id"] == refused.as_str())
        .unwrap()
        .clone();
    assert_eq!(item["runs"], 2);
    let failed: Value = serde_json::from_slice(
        &evidence_body(
            &moto.s3().await,
            &format!("{}/report.json", item["run"].as_str().unwrap()),
        )
        .await,
    )
    .unwrap();
    let message = failed["targets"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("cannot enter account {refused}"))
            && message.contains("AccessDenied"),
        "{message}"
    );
    let told: Vec<String> = inbox
        .received()
        .await
        .iter()
        .map(|m| m["Subject"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(told.len(), 2, "the dispatch and one summary: {told:?}");
    assert!(
        told[0].starts_with("Dispatched 30 principals in 30 accounts"),
        "{told:?}"
    );
    assert!(
        told[1].starts_with("PARTIAL containment of") && told[1].contains("needs a human"),
        "{told:?}"
    );
}

#[tokio::test]
async fn a_work_item_killed_mid_run_completes_on_redelivery_with_nothing_applied_twice() {
    let moto = Moto::start_multi_account();
    let accounts = ["111100001111".to_owned(), "222200002222".to_owned()];
    for account in &accounts {
        seed_user(&moto.iam_in(account).await, "ci-deployer").await;
    }
    // Slow reads: the snapshot is still being read well after the containment writes.
    let (queues, env) = work_scene(
        &moto,
        3,
        &[
            ("FANOUT_ACCOUNTS_THRESHOLD", "1"),
            ("IAM_REQUESTS_PER_SECOND", "2"),
        ],
    )
    .await;
    let request = json!({"principal_name": "user/ci-deployer", "accounts": accounts,
                         "incident_id": "IR-ORG-3"});
    dispatch(&env, &request).await;
    let mapping = mapping(&queues, &env, 2);

    // The first delivery of the first item is killed once its keys are inactive: after the
    // containment's writes, before its report.
    let first = mapping.receive(1).await;
    let account = first[0]
        .body()
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
        .map(|b| b["account_id"].as_str().unwrap_or_default().to_owned())
        .unwrap();
    let member = moto.iam_in(&account).await;
    let contained = async {
        loop {
            let keys = key_statuses(&member, "ci-deployer").await;
            if keys.iter().all(|(_, s)| *s == StatusType::Inactive) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let killed =
        lambda::invoke_killed_when(&binary("contain"), &env, &mapping.event(&first), contained)
            .await;
    assert!(
        killed.result.is_err(),
        "killed before it answered: {killed:?}"
    );
    let midway = status(&env, "IR-ORG-3").await;
    let item = midway["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["account_id"] == account.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        item["state"], "started",
        "a run without an outcome: {midway:#}"
    );

    mapping.drain(Duration::from_secs(120)).await;

    let answer = status(&env, "IR-ORG-3").await;
    assert_eq!(answer["counts"], json!({"contained": 2}), "{answer:#}");
    let item = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["account_id"] == account.as_str())
        .unwrap()
        .clone();
    assert_eq!(item["runs"], 2, "killed once, completed on redelivery");
    let report: Value = serde_json::from_slice(
        &evidence_body(
            &moto.s3().await,
            &format!("{}/report.json", item["run"].as_str().unwrap()),
        )
        .await,
    )
    .unwrap();
    let keys: Vec<&Value> = report["targets"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "deactivate_access_key")
        .collect();
    assert_eq!(keys.len(), 2, "{report:#}");
    assert!(
        keys.iter().all(|s| s["outcome"] == "already_in_place"),
        "the redelivery found the keys inactive and changed none: {keys:#?}"
    );
    let state = harness::user_state(&member, "ci-deployer").await;
    let inline = state["inline"].as_array().unwrap();
    assert_eq!(
        inline
            .iter()
            .filter(|p| p[0] == tourniquet_aws::plan::REVOKE_POLICY_NAME)
            .count(),
        1
    );
    assert_eq!(cutoff_in(&state).as_deref(), answer["cutoff"].as_str());
}

#[tokio::test]
async fn one_accounts_items_run_one_after_another_while_accounts_run_at_once() {
    let moto = Moto::start_multi_account();
    let accounts = ["111100001111", "222200002222"];
    let mut arns = Vec::new();
    for account in accounts {
        let member = moto.iam_in(account).await;
        for name in ["deployer-a", "deployer-b", "deployer-c"] {
            arns.push(seed_role(&member, name, "/").await.arn);
        }
    }
    let (queues, env) = work_scene(&moto, 3, &[("FANOUT_PRINCIPALS_PER_ITEM", "1")]).await;
    let arns: Vec<&str> = arns.iter().map(String::as_str).collect();
    dispatch(&env, &harness::custom_action(&arns)).await;
    let mapping = mapping(&queues, &env, 6);

    let deliveries = mapping.drain(Duration::from_secs(120)).await;

    assert_eq!(deliveries.len(), 6, "one item per principal");
    let overlap = |a: &harness::esm::Delivery, b: &harness::esm::Delivery| {
        a.span.start < b.span.end && b.span.start < a.span.end
    };
    let account = |d: &harness::esm::Delivery| d.bodies[0]["account_id"].clone();
    let mut across = false;
    for (i, a) in deliveries.iter().enumerate() {
        for b in &deliveries[i + 1..] {
            if account(a) == account(b) {
                assert!(!overlap(a, b), "two items of {} ran at once", account(a));
            } else {
                across |= overlap(a, b);
            }
        }
    }
    assert!(across, "the two accounts' items ran side by side");
    for arn in arns {
        let (account, name) = (
            arn.split(':').nth(4).unwrap(),
            arn.rsplit('/').next().unwrap(),
        );
        let state = role_state(&moto.iam_in(account).await, name).await;
        assert!(cutoff_in(&state).is_some(), "{arn}: {state}");
    }
}
