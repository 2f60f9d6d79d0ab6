//! Property tests over intake: whatever arrives, parsing never panics, and every rejection names
//! the field it is about.

use proptest::prelude::*;
use serde_json::{Map, Value};
use tourniquet_core::intake::{Intake, Options, parse};

/// Field names the parser looks at, so that generated events get past the first checks.
const KEYS: &[&str] = &[
    "source",
    "detail-type",
    "detail",
    "account",
    "id",
    "accountId",
    "type",
    "severity",
    "resource",
    "resourceType",
    "accessKeyDetails",
    "accessKeyId",
    "userName",
    "userType",
    "service",
    "archived",
    "additionalInfo",
    "sample",
    "detection",
    "sequence",
    "actors",
    "user",
    "name",
    "credentialUid",
    "eventArn",
    "eventTypeCode",
    "affectedEntities",
    "entityValue",
    "affectedAccount",
    "findings",
    "Id",
    "AwsAccountId",
    "Resources",
    "Type",
    "Details",
    "AwsIamAccessKey",
    "PrincipalName",
    "PrincipalType",
    "RecordState",
    "Workflow",
    "Status",
    "Severity",
    "Normalized",
    "eventID",
    "eventName",
    "eventSource",
    "userIdentity",
    "arn",
    "sessionContext",
    "sessionIssuer",
    "responseElements",
    "ConsoleLogin",
    "principal_arn",
    "access_key_id",
    "incident_id",
    "reason",
    "dry_run",
];

/// Values the parser compares against.
const WORDS: &[&str] = &[
    "aws.guardduty",
    "GuardDuty Finding",
    "aws.health",
    "AWS Health Event",
    "aws.securityhub",
    "Security Hub Findings - Imported",
    "Security Hub Findings - Custom Action",
    "AWS API Call via CloudTrail",
    "AWS Console Sign In via CloudTrail",
    "AccessKey",
    "IAMUser",
    "AssumedRole",
    "Root",
    "AwsIamAccessKey",
    "AwsIamUser",
    "AwsIamRole",
    "AWS_RISK_CREDENTIALS_EXPOSED",
    "AttackSequence:IAM/CompromisedCredentials",
    "AKIAEXAMPLECOMPROM01",
    "ASIAEXAMPLESTOLEN001",
    "111122223333",
    "arn:aws:iam::111122223333:user/ci-deployer",
    "arn:aws:iam::111122223333:role/a/b",
    "arn:aws:iam::111122223333:root",
    "arn:aws:sts::111122223333:assumed-role/r/s",
    "Failure",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(WORDS).prop_map(str::to_owned),
        ".{0,24}",
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-20.0f64..20.0).prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        let key = prop_oneof![
            prop::sample::select(KEYS).prop_map(str::to_owned),
            ".{0,12}"
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn fixtures() -> Vec<Value> {
    let dir = format!("{}/../../events", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// Every JSON pointer in `value`.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        _ => {}
    }
}

fn check(event: &Value) -> Result<(), TestCaseError> {
    for threshold in [0.0, 4.0] {
        let options = Options {
            severity_threshold: threshold,
            ..Options::default()
        };
        match parse(event, &options) {
            Ok(Intake::Incident(incident)) => {
                prop_assert!(!incident.id.is_empty());
                // Only AWS can send `aws.*` events: nothing else is ever aimed like one of them.
                if let Some(source) = event.get("source") {
                    prop_assert!(
                        source.as_str().is_some_and(|s| s.starts_with("aws.")),
                        "an incident from source {source}"
                    );
                }
                prop_assert!(
                    !incident.targets.is_empty() || !incident.identity_center_users.is_empty(),
                    "an incident names someone"
                );
            }
            Ok(Intake::Ignored { reason }) => prop_assert!(!reason.is_empty()),
            Err(err) => {
                prop_assert!(!err.field.is_empty(), "no field in {err}");
                prop_assert!(!err.message.is_empty(), "no message for {}", err.field);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_json_is_read_without_panic_and_rejections_name_a_field(event in json()) {
        check(&event)?;
    }

    #[test]
    fn any_event_shaped_object_is_read_without_panic(
        source in prop::sample::select(&WORDS[..9]),
        detail_type in prop::sample::select(&WORDS[..9]),
        detail in json(),
    ) {
        let event = serde_json::json!({"source": source, "detail-type": detail_type, "detail": detail});
        check(&event)?;
    }

    #[test]
    fn no_fixture_under_a_source_that_is_not_aws_names_anyone(
        which in any::<prop::sample::Index>(),
        source in "[a-zA-Z0-9.]{0,20}",
    ) {
        let mut event = which.get(&fixtures()).clone();
        prop_assume!(event.get("source").is_some() && !source.starts_with("aws."));
        event["source"] = source.into();
        check(&event)?;
    }

    #[test]
    fn a_sample_event_with_one_part_replaced_or_removed_is_read_without_panic(
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        replacement in prop::option::of(json()),
    ) {
        let fixtures = fixtures();
        let mut event = which.get(&fixtures).clone();
        let mut all = Vec::new();
        pointers(&event, String::new(), &mut all);
        let pointer = at.get(&all).clone();
        match replacement {
            Some(value) => *event.pointer_mut(&pointer).unwrap() = value,
            None => {
                let (parent, key) = pointer.rsplit_once('/').unwrap();
                match event.pointer_mut(parent).unwrap() {
                    Value::Object(map) => { map.remove(&key.replace("~1", "/").replace("~0", "~")); }
                    Value::Array(items) => { items.remove(key.parse::<usize>().unwrap()); }
                    _ => {}
                }
            }
        }
        check(&event)?;
    }
}
