//! `make demo`: a leaked access key contained on a local AWS API emulator, from the attacker's
//! first call to the stored evidence. Starts moto, seeds a compromised user, runs the real
//! `contain` binary under a local Lambda Runtime API with a GuardDuty finding, and shows
//! before, after, the report and the evidence; then the readiness audit of the same account.
//! The attacker's calls go through a CloudTrail double (moto has no event history) that the
//! function's hunt reads back.

use harness::lambda::{binary, invoke};
use harness::trail::Trail;
use harness::{
    ACCOUNT, BUCKET, Inbox, Moto, SeededUser, guardduty_finding, key_statuses, new_key, seed_user,
    user_state,
};
use serde_json::Value;

#[tokio::main]
async fn main() {
    println!("Tourniquet demo: a leaked IAM access key, contained\n");
    let moto = Moto::start();
    println!("AWS API emulator (moto) listening on {}", moto.endpoint);
    let iam = moto.iam().await;
    let s3 = moto.s3().await;
    harness::create_bucket(&s3).await;

    // The responder's own identity, as the deployed function's role would be.
    iam.create_user()
        .user_name("tourniquet")
        .send()
        .await
        .expect("responder user");
    iam.attach_user_policy()
        .user_name("tourniquet")
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .expect("responder policy");
    let responder_key = new_key(&iam, "tourniquet").await;
    let user = seed_user(&iam, "ci-deployer").await;
    // Identity Center: alice and bob in `admins`, two permission sets (see the last section).
    let center = harness::identity_center::seed(&moto).await;
    moto.enforce_iam_authorization();
    println!(
        "seeded user {} with two active keys; IAM authorization enforced",
        user.arn
    );
    // From here on, the emulator checks every call against IAM policies: read as the responder.
    let admin = moto
        .sdk_config_as(
            &responder_key.access_key_id,
            &responder_key.secret_access_key,
        )
        .await;
    let iam = aws_sdk_iam::Client::new(&admin);
    let s3 = harness::s3_client(&admin);
    let center = center.reading_as(&admin);
    // The stack's notification topic, with a queue standing for the responders' inbox, on an
    // emulator of its own: once authorization is enforced, moto's signature check rejects the
    // Rust SDK's SNS Publish (SignatureDoesNotMatch) though AWS accepts it, so SNS is served
    // unenforced (the function reaches it through AWS_ENDPOINT_URL_SNS).
    let notifications = Moto::start();
    let inbox = Inbox::new(&notifications.sdk_config().await).await;

    // CloudTrail's event history, which moto lacks: a double in front of the emulator records
    // the stolen key's calls and answers the hunt's LookupEvents with them.
    let trail = Trail::start(moto.port, ACCOUNT).await;
    trail.record_user(&user.keys[0], &user.name, &user.arn);

    section("BEFORE");
    print_user(&iam, &user).await;
    attacker_calls(&moto, &user).await;
    let backdoor = persistence(&moto, &trail, &user).await;

    let event = guardduty_finding(&user.name, &user.keys[0]);
    section("INVOKE contain");
    println!(
        "event: events/guardduty-iam-user.json ({}) naming {} and key {}",
        event["detail"]["type"].as_str().unwrap_or_default(),
        user.name,
        user.keys[0]
    );
    let env = vec![
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", responder_key.access_key_id.clone()),
        (
            "AWS_SECRET_ACCESS_KEY",
            responder_key.secret_access_key.clone(),
        ),
        ("EVIDENCE_BUCKET", BUCKET.to_string()),
        ("NOTIFY_TOPIC_ARN", inbox.topic.clone()),
        ("AWS_ENDPOINT_URL_SNS", notifications.endpoint.clone()),
        ("AWS_ENDPOINT_URL_CLOUDTRAIL", trail.endpoint.clone()),
        // The emulator answers ListServiceSpecificCredentials with HTTP 500: retry it once, not five times.
        ("AWS_MAX_ATTEMPTS", "2".to_string()),
    ];
    let invocation = invoke(&binary("contain"), &env, &event).await;
    println!("function logs:");
    for line in invocation.logs.lines() {
        println!("  | {line}");
    }
    let report = match invocation.result {
        Ok(report) => report,
        Err(error) => {
            eprintln!("contain failed: {error}");
            std::process::exit(1);
        }
    };

    section("AFTER");
    print_user(&iam, &user).await;
    attacker_calls(&moto, &user).await;
    for (key, status) in key_statuses(&iam, "backup-svc").await {
        let mark = if key == backdoor {
            " (the attacker's)"
        } else {
            ""
        };
        println!("  backup-svc key    {key} {status:?}{mark}");
    }

    section("HUNT (what the stolen key did, from CloudTrail, and what was contained)");
    let activity = &report["activity"];
    for line in activity["lines"].as_array().into_iter().flatten() {
        println!("  {}", line.as_str().unwrap_or_default());
    }
    for target in report["targets"].as_array().into_iter().flatten() {
        if let Some(cause) = target["cause"].as_str() {
            println!(
                "  followed: {} {} (cause {cause})",
                target["principal_arn"].as_str().unwrap_or_default(),
                target["status"].as_str().unwrap_or_default()
            );
        }
    }

    section("REPORT (the function's response)");
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );

    section("NOTIFICATION (what the topic's subscribers received)");
    for envelope in inbox.received().await {
        println!(
            "Subject: {}",
            envelope["Subject"].as_str().unwrap_or_default()
        );
        let attributes = &envelope["MessageAttributes"];
        for name in ["status", "severity", "account"] {
            println!(
                "  attribute {name}: {}",
                attributes[name]["Value"].as_str().unwrap_or_default()
            );
        }
        let body = envelope["Message"].as_str().unwrap_or_default();
        let pretty = serde_json::from_str::<Value>(body)
            .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
            .unwrap_or_else(|_| body.to_owned());
        for line in pretty.lines() {
            println!("  {line}");
        }
    }

    section("EVIDENCE (s3://tourniquet-evidence, every SHA-256 recomputed against the manifest)");
    let incident = report["incident_id"].as_str().unwrap_or_default();
    match tourniquet_aws::evidence::verify(
        &tourniquet_aws::sdk::S3Evidence::new(s3.clone(), BUCKET),
        incident,
    )
    .await
    {
        Ok(checks) => {
            for check in checks {
                let line = serde_json::to_value(&check).unwrap_or_default();
                println!(
                    "  {:9} {}",
                    line["result"].as_str().unwrap_or_default(),
                    line["key"].as_str().unwrap_or_default()
                );
            }
        }
        Err(err) => println!("  cannot verify: {err}"),
    }
    println!("  (the same check: cargo run -p verify-evidence -- BUCKET {incident})");

    section("READINESS AUDIT (the audit binary, as its daily schedule runs it)");
    let env: Vec<(&str, String)> = env
        .into_iter()
        .filter(|(k, _)| !k.contains("SNS") && *k != "NOTIFY_TOPIC_ARN")
        .collect();
    let audit = invoke(
        &binary("audit"),
        &env,
        &serde_json::json!({"audit": "scheduled"}),
    )
    .await;
    match audit.result {
        Ok(answer) => {
            for line in answer["summary"].as_str().unwrap_or_default().lines() {
                println!("  {line}");
            }
            println!(
                "  {} findings imported to Security Hub; stored: {}",
                answer["findings_imported"],
                answer["evidence"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["key"].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Err(error) => println!("  audit failed: {error}"),
    }
    section("IDENTITY CENTER (a session of alice@example.com's AdministratorAccess misused)");
    identity_center(&center, &env).await;
    println!("\nThe emulator stops with the demo; nothing outside this machine was touched.");
}

fn section(title: &str) {
    println!("\n== {title} ==");
}

async fn print_user(iam: &aws_sdk_iam::Client, user: &SeededUser) {
    let state = user_state(iam, &user.name).await;
    let rows = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|item| match item {
                Value::Array(pair) => format!(
                    "{} {}",
                    pair[0].as_str().unwrap_or_default(),
                    match &pair[1] {
                        Value::String(s) => s.clone(),
                        other => compact(other),
                    }
                ),
                other => other
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| compact(other)),
            })
            .collect()
    };
    for (label, field) in [
        ("access keys", "keys"),
        ("inline policies", "inline"),
        ("managed policies", "attached"),
        ("groups", "groups"),
        ("tags", "tags"),
    ] {
        let items = rows(&state[field]);
        println!(
            "  {label:17} {}",
            items.first().map(String::as_str).unwrap_or("(none)")
        );
        for item in items.iter().skip(1) {
            println!("  {:17} {item}", "");
        }
    }
}

fn compact(v: &Value) -> String {
    let text = v.to_string();
    if text.len() > 90 {
        format!("{}...", &text[..87])
    } else {
        text
    }
}

/// What the attacker leaves behind with the leaked key before anyone notices: a user of their own
/// with a key, through the CloudTrail double (which records it). Returns the new key's id.
async fn persistence(moto: &Moto, trail: &Trail, user: &SeededUser) -> String {
    let stolen = moto.sdk_config_as(&user.keys[0], &user.first_secret).await;
    let through = stolen.to_builder().endpoint_url(&trail.endpoint).build();
    let iam = aws_sdk_iam::Client::new(&through);
    iam.create_user()
        .user_name("backup-svc")
        .send()
        .await
        .expect("the attacker's user");
    let key = new_key(&iam, "backup-svc").await.access_key_id;
    println!("  the attacker      created user backup-svc and its access key {key}");
    key
}

/// What the holder of the leaked key can do.
async fn attacker_calls(moto: &Moto, user: &SeededUser) {
    let stolen = moto.sdk_config_as(&user.keys[0], &user.first_secret).await;
    let iam = aws_sdk_iam::Client::new(&stolen);
    let s3 = harness::s3_client(&stolen);
    let verdict = |status: Option<u16>| match status {
        None => "allowed".to_string(),
        Some(403) => "DENIED (403)".to_string(),
        Some(other) => format!("failed ({other})"),
    };
    let iam_status = iam
        .list_users()
        .send()
        .await
        .err()
        .map(|e| e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0));
    let s3_status = s3
        .list_buckets()
        .send()
        .await
        .err()
        .map(|e| e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0));
    println!(
        "  stolen key        iam:ListUsers {}, s3:ListBuckets {}",
        verdict(iam_status),
        verdict(s3_status)
    );
}

/// An Identity Center user contained in Identity Center: the GuardDuty finding on her session of
/// an `AWSReservedSSO_` role, through the real `contain` binary; then each permission set read back.
async fn identity_center(center: &harness::identity_center::Center, env: &[(&str, String)]) {
    let event = harness::event("guardduty-identity-center.json");
    println!(
        "event: events/guardduty-identity-center.json, principalId {}",
        event["detail"]["resource"]["accessKeyDetails"]["principalId"]
            .as_str()
            .unwrap_or_default()
    );
    let invocation = invoke(&binary("contain"), env, &event).await;
    let report = match invocation.result {
        Ok(report) => report,
        Err(error) => {
            println!("  contain failed: {error}");
            return;
        }
    };
    for target in report["targets"].as_array().into_iter().flatten() {
        println!(
            "  {} {}: {}",
            target["principal_arn"].as_str().unwrap_or_default(),
            target["status"].as_str().unwrap_or_default(),
            target["message"].as_str().unwrap_or_default()
        );
        for step in target["steps"].as_array().into_iter().flatten() {
            println!(
                "    {} {} {}",
                step["action"].as_str().unwrap_or_default(),
                step["outcome"].as_str().unwrap_or_default(),
                step["detail"].as_str().unwrap_or_default()
            );
        }
    }
    for (name, set) in [("Admin", &center.admin), ("ReadOnly", &center.read_only)] {
        let policy: Value = serde_json::from_str(&center.inline(set).await).unwrap_or_default();
        let statements: Vec<String> = policy["Statement"]
            .as_array()
            .into_iter()
            .flatten()
            .map(
                |s| match s["Condition"]["StringEquals"]["identitystore:userId"].as_str() {
                    Some(user) if user == center.alice => format!("{} (alice only)", s["Sid"]),
                    Some(user) => format!("{} ({user})", s["Sid"]),
                    None => s["Sid"].to_string(),
                },
            )
            .collect();
        println!(
            "  permission set {name}: inline statements {}",
            statements.join(", ")
        );
    }
    println!(
        "  bob@example.com holds ReadOnly through the same group: no statement names him; \
         release with {{\"identity_center_user\": \"alice@example.com\", \"incident_id\": \"{}\"}}",
        report["incident_id"].as_str().unwrap_or_default()
    );
}
