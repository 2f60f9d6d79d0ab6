//! `template.yaml` against the source: the functions it deploys are the workspace's binaries, and
//! each function's role allows exactly the IAM actions its code can call, no more, no less.
//!
//! The code side is read off the source: every `iam.<operation>(` call in the files a function
//! runs. Reads are `snapshot.rs` and `responder/`; writes are grouped by kind in `execute/`, and a
//! function runs the kinds its `Playbook::runs` says. The template side is read with cfn-lint's
//! own parser from the virtualenv `make test` creates.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use tourniquet_aws::Playbook;
use tourniquet_aws::plan::{Action, MemberRole};

fn root() -> PathBuf {
    harness::root()
}

/// `template.yaml` as JSON, intrinsic functions as `{"Ref": ...}`, `{"Fn::Sub": ...}` objects.
fn template() -> Value {
    decoded("template.yaml")
}

/// `member-role.yaml`, decoded the same way.
fn member_template() -> Value {
    decoded("member-role.yaml")
}

fn decoded(file: &str) -> Value {
    let python = std::env::var_os("TEMPLATE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv-sam/bin/python"));
    assert!(
        python.exists(),
        "{} not found: run `make test`, which creates the virtualenv with cfn-lint",
        python.display()
    );
    let script = "import json, sys\nfrom cfnlint.decode import decode\n\
                  template, errors = decode(sys.argv[1])\n\
                  assert not errors, errors\nprint(json.dumps(template, default=str))";
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(root().join(file))
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("template as JSON")
}

/// `iam:PutUserPolicy` and `put_user_policy` both become `putuserpolicy` (IAM actions are
/// case-insensitive).
fn normalize(action: &str) -> String {
    action
        .trim_start_matches("iam:")
        .replace('_', "")
        .to_lowercase()
}

/// Every operation a source file calls on the client named `client` (`iam`, `sso`, `store`), in
/// snake case.
fn calls(file: &Path, client: &str) -> Vec<String> {
    let text: String = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let client = format!("{client}.");
    text.match_indices(&client)
        .filter_map(|(i, _)| {
            let rest = &text[i + client.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            (!name.is_empty() && rest[name.len()..].starts_with('(')).then_some(name)
        })
        .collect()
}

/// Every IAM operation a source file calls.
fn iam_calls(file: &Path) -> BTreeSet<String> {
    calls(file, "iam").iter().map(|n| normalize(n)).collect()
}

/// A source file of the library, by its path inside a crate's `src/` (the shell's or the core's).
fn source(path: &str) -> PathBuf {
    let shell = root().join("shared/aws/src").join(path);
    if shell.exists() {
        return shell;
    }
    root().join("shared/core/src").join(path)
}

/// The files of the writes each containment action takes (the fallback routes included).
fn write_files(action: Action) -> &'static [&'static str] {
    match action {
        Action::AttachDenyAll => &[
            "execute/inline.rs",
            "execute/managed.rs",
            "execute/quarantine.rs",
        ],
        Action::RevokeSessions => &["execute/inline.rs", "execute/managed.rs"],
        Action::DeactivateAccessKey => &["execute/keys.rs"],
        Action::DeactivateCredential => &["execute/credentials.rs"],
        Action::TagPrincipal => &["execute/tags.rs"],
        other => panic!("{other} is a release's step: its writes are execute/undo.rs"),
    }
}

/// What each function's code can call.
fn code_side(playbook: Playbook) -> BTreeSet<String> {
    // The audit runs none of the engine: its reads are its own.
    if playbook == Playbook::Audit {
        return iam_calls(&source("responder/audit.rs"));
    }
    // The engine every function runs: its phases, and the snapshot's reads.
    let mut files = vec![
        "snapshot.rs",
        "responder/mod.rs",
        "responder/resolve.rs",
        "responder/contain.rs",
        "responder/record.rs",
    ];
    if playbook == Playbook::Release {
        files.extend([
            "responder/release.rs",
            "execute/undo.rs",
            "execute/keys.rs",
            "execute/credentials.rs",
            "execute/tags.rs",
        ]);
    }
    for action in Action::CONTAINMENT
        .into_iter()
        .filter(|a| playbook.runs(*a))
    {
        files.extend(write_files(action));
    }
    files.iter().flat_map(|f| iam_calls(&source(f))).collect()
}

/// Every action a policy document allows (an `!If` statement is a deny on protected principals:
/// it allows nothing).
fn allowed_actions(document: &Value) -> Vec<String> {
    let statements = match &document["Statement"] {
        Value::Array(list) => list.clone(),
        other => vec![other.clone()],
    };
    statements
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| match &s["Action"] {
            Value::Array(list) => list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Value::String(one) => vec![one.clone()],
            _ => vec![],
        })
        .collect()
}

/// The IAM actions a policy document allows.
fn allowed(document: &Value) -> BTreeSet<String> {
    allowed_actions(document)
        .into_iter()
        .filter(|a| a.starts_with("iam:"))
        .map(|a| normalize(&a))
        .collect()
}

/// The binary a function's logical id names, as the Makefile's `build-%Function` rule copies it
/// for `sam build`: `DeactivateAccessKeysFunction` is `deactivate-access-keys`.
fn binary_of(logical: &str) -> String {
    let stem = logical
        .strip_suffix("Function")
        .unwrap_or_else(|| panic!("{logical}: a function's logical id ends in Function"));
    let mut binary = String::new();
    for (i, c) in stem.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            binary.push('-');
        }
        binary.push(c.to_ascii_lowercase());
    }
    binary
}

/// Each deployed function's binary and the IAM actions its role allows.
fn template_side(template: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let resources = template["Resources"].as_object().unwrap();
    resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(logical, function)| {
            assert_eq!(
                function["Metadata"]["BuildMethod"], "makefile",
                "{logical}: built by the Makefile's one cargo-lambda build"
            );
            let binary = binary_of(logical);
            let mut actions = BTreeSet::new();
            for policy in function["Properties"]["Policies"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let document = match policy["Ref"].as_str() {
                    Some(name) => resources[name]["Properties"]["PolicyDocument"].clone(),
                    None => policy.clone(),
                };
                actions.extend(allowed(&document));
            }
            (binary, actions)
        })
        .collect()
}

/// Each member role of `member-role.yaml`, by kind: its resource and the IAM actions it allows
/// (its managed policies and its inline ones).
fn member_side(member: &Value) -> BTreeMap<&'static str, (Value, BTreeSet<String>)> {
    let resources = member["Resources"].as_object().unwrap();
    resources
        .values()
        .filter(|r| r["Type"] == "AWS::IAM::Role")
        .map(|role| {
            let name = role["Properties"]["RoleName"]["Fn::Sub"]
                .as_str()
                .expect("each member role is named ${RoleName}<kind>");
            let kind = MemberRole::ALL
                .into_iter()
                .find(|k| name == format!("${{RoleName}}{}", k.suffix()))
                .unwrap_or_else(|| panic!("{name} is no member role the code assumes"));
            let mut actions = BTreeSet::new();
            for managed in role["Properties"]["ManagedPolicyArns"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let name = managed["Ref"].as_str().expect("the stack's own policies");
                actions.extend(allowed(&resources[name]["Properties"]["PolicyDocument"]));
            }
            for inline in role["Properties"]["Policies"]
                .as_array()
                .into_iter()
                .flatten()
            {
                actions.extend(allowed(&inline["PolicyDocument"]));
            }
            (kind.suffix(), (role.clone(), actions))
        })
        .collect()
}

/// The functions that assume a member role of `kind`.
fn playbooks_of(kind: MemberRole) -> impl Iterator<Item = Playbook> {
    Playbook::ALL
        .into_iter()
        .filter(move |p| p.member_role() == Some(kind))
}

/// The same, by binary.
fn functions_of(kind: MemberRole) -> BTreeSet<String> {
    playbooks_of(kind).map(|p| p.name().to_owned()).collect()
}

#[test]
fn the_template_deploys_exactly_the_workspaces_function_binaries() {
    let deployed: BTreeSet<String> = template_side(&template()).into_keys().collect();
    let crates: BTreeSet<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let playbooks: BTreeSet<String> = Playbook::ALL.iter().map(|p| p.name().to_owned()).collect();
    assert_eq!(deployed, crates, "template functions vs functions/*");
    assert_eq!(crates, playbooks, "functions/* vs the playbook's functions");
}

#[test]
fn each_functions_role_allows_exactly_the_iam_actions_its_code_calls() {
    let template = template_side(&template());
    let mut problems = Vec::new();
    for playbook in Playbook::ALL {
        let code = code_side(playbook);
        assert!(
            !code.is_empty(),
            "{}: found no IAM call in the source",
            playbook.name()
        );
        problems.extend(mismatches(
            playbook.name(),
            &code,
            &template[playbook.name()],
        ));
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// Where a role and the code it serves disagree: an action the code calls that the role does not
/// allow, or one the role allows that the code never calls.
fn mismatches(role: &str, code: &BTreeSet<String>, granted: &BTreeSet<String>) -> Vec<String> {
    let missing = code
        .difference(granted)
        .map(|a| format!("{role}: the code calls iam:{a}, the role does not allow it"));
    let extra = granted
        .difference(code)
        .map(|a| format!("{role}: the role allows iam:{a}, the code never calls it"));
    missing.chain(extra).collect()
}

#[test]
fn no_role_may_escalate_or_delete_anything_but_its_own_policies() {
    let forbidden = [
        "*",
        "passrole",
        "createpolicyversion",
        "updateassumerolepolicy",
        "createaccesskey",
        "createloginprofile",
        "updateloginprofile",
        "deleteloginprofile",
        "deleteaccesskey",
        "deletepolicy",
        "deleteuser",
        "deleterole",
        "putuserpermissionsboundary",
    ];
    for (function, actions) in template_side(&template()) {
        for action in &actions {
            assert!(
                !forbidden.contains(&action.as_str()) && !action.contains('*'),
                "{function} may {action}"
            );
            if action.starts_with("delete") {
                assert_eq!(
                    function, "release",
                    "only release removes Tourniquet's own inline policies"
                );
            }
        }
        if function == "snapshot" {
            assert!(
                actions
                    .iter()
                    .all(|a| a.starts_with("get") || a.starts_with("list")),
                "snapshot must be read-only: {actions:?}"
            );
        }
        if function == "audit" {
            // Asking IAM to refresh its credential report is the audit's one call that is not a read.
            assert!(
                actions.iter().all(|a| a.starts_with("get")
                    || a.starts_with("list")
                    || a == "generatecredentialreport"),
                "audit must be read-only: {actions:?}"
            );
        }
    }
}

/// Every EventBridge pattern that reaches a function: the SAM functions' `EventBridgeRule` events
/// and the stand-alone `AWS::Events::Rule`s, by name.
fn event_patterns(template: &Value) -> Vec<(String, Value)> {
    let mut patterns = Vec::new();
    for (name, resource) in template["Resources"].as_object().unwrap() {
        match resource["Type"].as_str() {
            Some("AWS::Serverless::Function") => {
                for (event, spec) in resource["Properties"]["Events"]
                    .as_object()
                    .into_iter()
                    .flatten()
                {
                    if spec["Type"] == "EventBridgeRule" {
                        patterns.push((event.clone(), spec["Properties"]["Pattern"].clone()));
                    }
                }
            }
            Some("AWS::Events::Rule") => {
                patterns.push((name.clone(), resource["Properties"]["EventPattern"].clone()))
            }
            _ => {}
        }
    }
    patterns
}

#[test]
fn every_rule_pins_an_aws_source_that_customers_cannot_put() {
    let template = template();
    let patterns = event_patterns(&template);
    assert!(patterns.len() >= 5, "{patterns:?}");
    for (name, pattern) in &patterns {
        let sources = pattern["source"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no source: anyone can aim it"));
        assert!(!sources.is_empty(), "{name}");
        for source in sources {
            let pinned = source.as_str().is_some_and(|s| s.starts_with("aws."))
                || source["prefix"].as_str() == Some("aws.");
            assert!(pinned, "{name}: source {source} is not an aws.* source");
        }
    }
    // Imported Security Hub findings: AWS-owned products only, never the account's own.
    let (_, imported) = patterns
        .iter()
        .find(|(_, p)| p["detail-type"][0] == "Security Hub Findings - Imported")
        .expect("the imported findings rule");
    assert_eq!(
        imported["detail"]["findings"]["ProductArn"],
        serde_json::json!([{"wildcard": "arn:*:securityhub:*::product/aws/*"}])
    );
}

#[test]
fn the_functions_know_their_stack_cap_and_trusted_products() {
    let template = template();
    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(
        variables["STACK_NAME"],
        serde_json::json!({"Ref": "AWS::StackName"})
    );
    assert_eq!(
        variables["MAX_PRINCIPALS_PER_EVENT"],
        serde_json::json!({"Ref": "MaxPrincipalsPerEvent"})
    );
    assert_eq!(
        variables["SECURITYHUB_PRODUCTS"],
        serde_json::json!({"Ref": "SecurityHubProducts"})
    );
    // The default protection works in every partition.
    let default = template["Parameters"]["ProtectedPrincipals"]["Default"]
        .as_str()
        .unwrap();
    assert!(default.starts_with("arn:*:"), "{default}");
}

#[test]
fn only_the_functions_write_evidence_and_nobody_removes_or_unlocks_it() {
    let template = template();
    let statements = template["Resources"]["EvidenceBucketPolicy"]["Properties"]["PolicyDocument"]
        ["Statement"]
        .as_array()
        .expect("the evidence bucket policy")
        .clone();
    let by_sid = |sid: &str| {
        statements
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("statement {sid}"))
            .clone()
    };
    let function_roles: BTreeSet<String> = template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(name, _)| format!("{name}Role"))
        .collect();
    let roles_in = |condition: &Value| -> BTreeSet<String> {
        condition["aws:PrincipalArn"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["Fn::GetAtt"][0].as_str().map(str::to_owned))
            .collect()
    };
    let actions = |statement: &Value| -> BTreeSet<String> {
        statement["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    };

    let others = by_sid("OnlyTheFunctionsWriteEvidence");
    assert_eq!(others["Effect"], "Deny");
    assert_eq!(others["Principal"], "*");
    for action in [
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:PutObjectRetention",
        "s3:PutObjectLegalHold",
        "s3:BypassGovernanceRetention",
    ] {
        assert!(actions(&others).contains(action), "{action}");
    }
    assert_eq!(
        roles_in(&others["Condition"]["ArnNotLike"]),
        function_roles,
        "every function may write, and no one else but the break-glass role"
    );
    let functions = by_sid("NoFunctionRemovesEvidence");
    assert_eq!(functions["Effect"], "Deny");
    assert_eq!(roles_in(&functions["Condition"]["ArnLike"]), function_roles);
    for action in [
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:BypassGovernanceRetention",
    ] {
        assert!(actions(&functions).contains(action), "{action}");
    }
    // COMPLIANCE is offered, and the functions lock each object themselves.
    let modes = &template["Parameters"]["EvidenceRetentionMode"]["AllowedValues"];
    assert_eq!(modes, &serde_json::json!(["GOVERNANCE", "COMPLIANCE"]));
    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(
        variables["EVIDENCE_RETENTION_MODE"],
        serde_json::json!({"Ref": "EvidenceRetentionMode"})
    );
}

#[test]
fn every_alarm_can_deliver_to_its_topic_through_the_topics_own_key() {
    let template = template();
    let resources = &template["Resources"];
    let topic = &resources["AlarmTopic"]["Properties"];
    assert_eq!(
        topic["KmsMasterKeyId"],
        serde_json::json!({"Ref": "AlarmKey"}),
        "CloudWatch cannot publish to a topic under alias/aws/sns"
    );
    let grants = |statements: &Value, action: &str| -> Vec<String> {
        statements
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Effect"] == "Allow")
            .filter(|s| s["Principal"]["Service"] == "cloudwatch.amazonaws.com")
            .filter(|s| {
                let actions = &s["Action"];
                actions == action
                    || actions
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == action))
            })
            .map(|s| {
                s["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    let key_policy = &resources["AlarmKey"]["Properties"]["KeyPolicy"]["Statement"];
    let topic_policy = &resources["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"];
    let scopes = [
        grants(key_policy, "kms:GenerateDataKey*"),
        grants(key_policy, "kms:Decrypt"),
        grants(topic_policy, "sns:Publish"),
    ];
    let alarms: Vec<(&String, &Value)> = resources
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .collect();
    assert!(alarms.len() >= 3);
    // Every release is heard of.
    assert!(alarms.iter().any(|(_, a)| {
        a["Properties"]["MetricName"] == "Invocations"
            && a["Properties"]["Dimensions"][0]["Value"]
                == serde_json::json!({"Ref": "ReleaseFunction"})
    }));
    for (name, alarm) in alarms {
        let properties = &alarm["Properties"];
        assert!(
            properties["AlarmActions"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!({"Ref": "AlarmTopic"})),
            "{name}"
        );
        let alarm_name = properties["AlarmName"]["Fn::Sub"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} needs a fixed name for the key policy to name it"));
        for scope in &scopes {
            // Each grant is scoped to this stack's alarms and covers this one.
            let pattern = scope
                .iter()
                .find_map(|p| p.split(":alarm:").nth(1))
                .unwrap_or_else(|| panic!("no grant scoped to the stack's alarms: {scope:?}"));
            let prefix = pattern.trim_end_matches('*');
            assert!(
                pattern.ends_with('*') && alarm_name.starts_with(prefix),
                "{name} ({alarm_name}) is not covered by {pattern}"
            );
        }
    }
}

/// Every statement a function's role allows, its managed policies' included.
fn allow_statements(template: &Value, function: &Value) -> Vec<Value> {
    let resources = &template["Resources"];
    function["Properties"]["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|policy| match policy["Ref"].as_str() {
            Some(name) => resources[name]["Properties"]["PolicyDocument"].clone(),
            None => policy.clone(),
        })
        .flat_map(|document| match &document["Statement"] {
            Value::Array(list) => list.clone(),
            other => vec![other.clone()],
        })
        .filter(|s| s["Effect"] == "Allow")
        .collect()
}

/// Whether `statements` allow `action` on exactly `resource`.
fn grants(statements: &[Value], action: &str, resource: &Value) -> bool {
    statements.iter().any(|s| {
        let actions = &s["Action"];
        let has = actions == action
            || actions
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == action));
        has && &s["Resource"] == resource
    })
}

/// Grants beyond `iam:`, which moto does not enforce (KMS least of all): every function that
/// tells the humans may publish to the topic through its key, and only `contain`, which
/// receives Security Hub's events, may update findings, and only to `NOTIFIED`. A grant missing
/// or misplaced fails here, not in the first incident.
#[test]
fn every_function_may_tell_the_humans_and_only_contain_may_note_findings() {
    let code = std::fs::read_to_string(source("responder/notify.rs")).unwrap();
    assert!(code.contains(".publish()") && code.contains(".batch_update_findings()"));
    for (file, calls) in [
        ("responder/respond.rs", 1),
        ("responder/record.rs", 1),
        ("responder/release.rs", 1),
        ("responder/dispatch.rs", 1),
    ] {
        let text = std::fs::read_to_string(source(file)).unwrap();
        assert_eq!(
            text.matches(".notify(").count(),
            calls,
            "{file}: where runs tell the humans"
        );
    }
    let template = template();
    let resources = &template["Resources"];
    let topic = serde_json::json!({"Ref": "NotifyTopic"});
    let key = serde_json::json!({"Fn::GetAtt": ["AlarmKey", "Arn"]});
    assert_eq!(
        resources["NotifyTopic"]["Properties"]["KmsMasterKeyId"],
        serde_json::json!({"Ref": "AlarmKey"}),
        "the topic is encrypted with the stack's key"
    );
    assert_eq!(
        template["Globals"]["Function"]["Environment"]["Variables"]["NOTIFY_TOPIC_ARN"],
        topic
    );
    let functions: Vec<(&String, &Value)> = resources
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .collect();
    assert_eq!(functions.len(), 8);
    for (name, function) in &functions {
        let statements = allow_statements(&template, function);
        if name.as_str() == "AuditFunction" {
            // The audit tells through Security Hub, into the account's own product only.
            assert!(
                !grants(&statements, "sns:Publish", &topic),
                "{name} publishes"
            );
            let imports: Vec<&Value> = statements
                .iter()
                .filter(|s| s["Action"] == "securityhub:BatchImportFindings")
                .collect();
            assert_eq!(imports.len(), 1, "{name} imports its findings");
            assert_eq!(
                imports[0]["Resource"]["Fn::Sub"],
                "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/${AWS::AccountId}/default"
            );
            continue;
        }
        assert!(
            grants(&statements, "sns:Publish", &topic),
            "{name} cannot publish to the topic"
        );
        for action in ["kms:GenerateDataKey*", "kms:Decrypt"] {
            assert!(
                grants(&statements, action, &key),
                "{name} lacks {action} on the topic's key"
            );
        }
        let updates: Vec<&Value> = statements
            .iter()
            .filter(|s| s["Action"] == "securityhub:BatchUpdateFindings")
            .collect();
        if name.as_str() == "ContainFunction" {
            assert_eq!(updates.len(), 1, "{name} notes the findings it acted on");
            assert_eq!(
                updates[0]["Condition"]["StringEquals"]["securityhub:ASFFSyntaxPath/Workflow.Status"],
                "NOTIFIED",
                "never RESOLVED or SUPPRESSED"
            );
        } else {
            assert!(
                updates.is_empty(),
                "{name} has no Security Hub events to update"
            );
        }
        // Nothing else beyond IAM, S3, STS, logs and these (CloudTrail's reads: see the hunt's
        // test below; Identity Center's: each_role_allows_exactly_the_identity_center_calls...).
        for s in &statements {
            let actions = match &s["Action"] {
                Value::Array(list) => list.clone(),
                one => vec![one.clone()],
            };
            for a in actions.iter().filter_map(Value::as_str) {
                // Only contain fans out: it sends work items and finds an organization's accounts.
                if a.starts_with("organizations:") || a == "sqs:SendMessage" {
                    assert_eq!(name.as_str(), "ContainFunction", "{name} allows {a}");
                }
                assert!(
                    [
                        "iam:",
                        "s3:",
                        "sts:",
                        "sns:Publish",
                        "kms:GenerateDataKey*",
                        "kms:Decrypt",
                        "securityhub:BatchUpdateFindings",
                        "sqs:SendMessage",
                        "organizations:DescribeOrganization",
                        "organizations:List",
                        "cloudtrail:LookupEvents",
                        "sso:",
                        "identitystore:",
                        "logs:"
                    ]
                    .iter()
                    .any(|p| a.starts_with(p)),
                    "{name} allows {a}"
                );
            }
        }
    }
    // A message on the topic is Tourniquet's word: everyone else is denied publishing.
    let deny = &resources["NotifyTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(
        (deny["Effect"].as_str(), deny["Principal"].as_str()),
        (Some("Deny"), Some("*"))
    );
    assert_eq!(deny["Action"], "sns:Publish");
    let allowed: BTreeSet<String> = deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["Fn::GetAtt"][0]
                .as_str()
                .unwrap()
                .trim_end_matches("Role")
                .to_owned()
        })
        .collect();
    let functions: BTreeSet<String> = functions
        .iter()
        .map(|(n, _)| (*n).clone())
        .filter(|n| n != "AuditFunction")
        .collect();
    assert_eq!(allowed, functions);
}

/// The work queue as Lambda advises for an event source mapping, and as a way to aim contain:
/// only contain's role may send, only contain consumes (one item an invocation, failures reported
/// per item, at most `WorkConcurrency` at once), a message is seen again only after the function's
/// timeout six times over, and one that keeps failing lands in an alarmed dead-letter queue.
/// The queue policy `policy` denies sending to everyone but contain's role.
fn only_contain_sends(resources: &Value, policy: &str) {
    let deny = &resources[policy]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(
        (
            deny["Effect"].as_str(),
            deny["Principal"].as_str(),
            deny["Action"].as_str()
        ),
        (Some("Deny"), Some("*"), Some("sqs:SendMessage")),
        "{policy}"
    );
    assert_eq!(
        deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
        serde_json::json!({"Fn::GetAtt": ["ContainFunctionRole", "Arn"]}),
        "{policy}"
    );
}

/// Nobody but the queue's consumer may receive, delete, hide or purge its messages: an item
/// taken by anyone else is lost, or dead-lettered after three receives, with no alarm.
fn only_consumer_receives(resources: &Value, policy: &str, consumer: &str) {
    let statements = resources[policy]["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap();
    let deny = statements
        .iter()
        .find(|s| {
            s["Action"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "sqs:ReceiveMessage"))
        })
        .unwrap_or_else(|| panic!("{policy}: no deny of sqs:ReceiveMessage"));
    assert_eq!(
        (deny["Effect"].as_str(), deny["Principal"].as_str()),
        (Some("Deny"), Some("*"))
    );
    for action in [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:PurgeQueue",
    ] {
        assert!(
            deny["Action"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == action),
            "{policy}: {action}"
        );
    }
    assert_eq!(
        deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
        serde_json::json!({"Fn::GetAtt": [consumer, "Arn"]}),
        "{policy}"
    );
}

#[test]
fn only_the_consumer_of_each_queue_may_receive_delete_or_purge_it() {
    let template = template();
    let resources = &template["Resources"];
    only_consumer_receives(resources, "WorkQueuePolicy", "ContainFunctionRole");
    only_consumer_receives(resources, "HuntQueuePolicy", "HuntFunctionRole");
}

#[test]
fn only_contain_sends_work_items_and_consumes_them_as_lambda_advises() {
    let template = template();
    let resources = &template["Resources"];
    let queue = &resources["WorkQueue"]["Properties"];
    // One account's items one after another: IAM's rate is the account's.
    assert_eq!(queue["FifoQueue"], true);
    assert_eq!(
        resources["WorkDeadLetterQueue"]["Properties"]["FifoQueue"],
        true
    );
    let timeout = template["Globals"]["Function"]["Timeout"].as_i64().unwrap();
    assert!(
        queue["VisibilityTimeout"].as_i64().unwrap() >= 6 * timeout,
        "visibility {} < 6 x {timeout}",
        queue["VisibilityTimeout"]
    );
    assert_eq!(
        queue["RedrivePolicy"]["deadLetterTargetArn"],
        serde_json::json!({"Fn::GetAtt": ["WorkDeadLetterQueue", "Arn"]})
    );
    assert_eq!(
        queue["RedrivePolicy"]["maxReceiveCount"],
        serde_json::json!({"Ref": "WorkMaxReceives"})
    );
    only_contain_sends(resources, "WorkQueuePolicy");
    let alarm = &resources["WorkDeadLetterAlarm"]["Properties"];
    assert_eq!(
        alarm["Dimensions"][0]["Value"],
        serde_json::json!({"Fn::GetAtt": ["WorkDeadLetterQueue", "QueueName"]})
    );
    assert_eq!(
        alarm["AlarmActions"],
        serde_json::json!([{"Ref": "AlarmTopic"}])
    );
    let work_queue = serde_json::json!({"Fn::GetAtt": ["WorkQueue", "Arn"]});
    for (name, function) in resources
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
    {
        let sqs_events: Vec<&Value> = function["Properties"]["Events"]
            .as_object()
            .into_iter()
            .flat_map(|e| e.values())
            .filter(|e| e["Type"] == "SQS")
            .collect();
        let env = &function["Properties"]["Environment"]["Variables"];
        if name == "ContainFunction" {
            assert_eq!(sqs_events.len(), 1);
            let mapping = &sqs_events[0]["Properties"];
            assert_eq!(mapping["Queue"], work_queue);
            assert_eq!(mapping["BatchSize"], 1);
            assert_eq!(
                mapping["FunctionResponseTypes"],
                serde_json::json!(["ReportBatchItemFailures"])
            );
            assert_eq!(
                mapping["ScalingConfig"]["MaximumConcurrency"],
                serde_json::json!({"Ref": "WorkConcurrency"})
            );
            assert_eq!(
                env["WORK_QUEUE_URL"],
                serde_json::json!({"Ref": "WorkQueue"})
            );
            let statements = allow_statements(&template, function);
            assert!(grants(&statements, "sqs:SendMessage", &work_queue));
        } else {
            // The hunt consumes the second hunts' queue (see the test below), no other.
            let hunts = serde_json::json!({"Fn::GetAtt": ["HuntQueue", "Arn"]});
            assert!(
                sqs_events.iter().all(|e| e["Properties"]["Queue"] == hunts),
                "{name} consumes a queue"
            );
            assert!(env.get("WORK_QUEUE_URL").is_none(), "{name} fans out");
        }
    }
}

#[test]
fn only_contain_queues_second_hunts_and_only_the_hunt_reads_them_or_cloudtrail() {
    let template = template();
    let resources = &template["Resources"];
    let hunt_queue = serde_json::json!({"Fn::GetAtt": ["HuntQueue", "Arn"]});
    // Only contain's role may send: a message names a stored request, and cannot aim the hunt.
    only_contain_sends(resources, "HuntQueuePolicy");
    let queue = &resources["HuntQueue"]["Properties"];
    assert_eq!(
        queue["RedrivePolicy"]["deadLetterTargetArn"],
        serde_json::json!({"Fn::GetAtt": ["HuntDeadLetterQueue", "Arn"]})
    );
    let hunt_timeout = resources["HuntFunction"]["Properties"]["Timeout"]
        .as_i64()
        .unwrap();
    assert!(queue["VisibilityTimeout"].as_i64().unwrap() >= hunt_timeout);
    assert_eq!(
        resources["HuntDeadLetterAlarm"]["Properties"]["Dimensions"][0]["Value"],
        serde_json::json!({"Fn::GetAtt": ["HuntDeadLetterQueue", "QueueName"]})
    );
    // SQS holds a message 15 minutes at most: the delay cannot ask for more.
    assert_eq!(template["Parameters"]["HuntDelaySeconds"]["MaxValue"], 900);
    let contain = &resources["ContainFunction"];
    let env = &contain["Properties"]["Environment"]["Variables"];
    assert_eq!(
        env["HUNT_QUEUE_URL"],
        serde_json::json!({"Ref": "HuntQueue"})
    );
    assert_eq!(
        env["HUNT_DELAY_SECONDS"],
        serde_json::json!({"Ref": "HuntDelaySeconds"})
    );
    for (name, function) in resources
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
    {
        let statements = allow_statements(&template, function);
        let hunts = matches!(name.as_str(), "ContainFunction" | "HuntFunction");
        assert_eq!(
            grants(
                &statements,
                "cloudtrail:LookupEvents",
                &serde_json::json!("*")
            ),
            hunts,
            "{name} reads CloudTrail"
        );
        assert_eq!(
            grants(&statements, "sqs:SendMessage", &hunt_queue),
            name == "ContainFunction",
            "{name} queues hunts"
        );
        let mappings: Vec<&Value> = function["Properties"]["Events"]
            .as_object()
            .into_iter()
            .flat_map(|e| e.values())
            .filter(|e| e["Type"] == "SQS" && e["Properties"]["Queue"] == hunt_queue)
            .collect();
        assert_eq!(
            mappings.len(),
            usize::from(name == "HuntFunction"),
            "{name}"
        );
        if let [mapping] = &mappings[..] {
            assert_eq!(
                mapping["Properties"]["FunctionResponseTypes"],
                serde_json::json!(["ReportBatchItemFailures"])
            );
        }
    }
    // A hunt in a member account reads its CloudTrail through the containment member role.
    let member = member_template();
    let contain_role = &member["Resources"]["MemberContainRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        ["Statement"];
    assert!(
        contain_role
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["Action"] == "cloudtrail:LookupEvents"),
        "{contain_role}"
    );
}

/// Every object the functions read back from the evidence store (the ledger a replay, a
/// re-delivered detection and a work item rely on) is readable by every function: moto does not
/// enforce S3 permissions, so a read the policy forgot would only fail in AWS, silently keeping a
/// later cutoff or refusing every work item.
#[test]
fn every_function_may_read_the_ledger_its_code_reads() {
    let code: String = [
        "evidence.rs",
        "ledger.rs",
        "responder/dispatch.rs",
        "fanout.rs",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(source(f)).unwrap())
    .collect();
    let read = ["report.json", "released.json", "dispatch.json"];
    for object in read {
        assert!(
            code.contains(object),
            "{object} is no longer read: update this test"
        );
    }
    let template = template();
    let resources = &template["Resources"];
    let ledger = resources["ReadPrincipalsPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Action"] == "s3:GetObject")
        .expect("a read of the evidence");
    let pattern = ledger["Resource"]["Fn::Sub"]
        .as_str()
        .unwrap()
        .replace("${EvidenceBucket.Arn}", "arn:aws:s3:::bucket");
    for object in read {
        let key = format!("arn:aws:s3:::bucket/incidents/IR-1/20261202T090000.000Z/{object}");
        assert!(
            glob(&pattern, &key),
            "{pattern} does not let the functions read {key}"
        );
    }
    for (name, function) in resources
        .as_object()
        .unwrap()
        .iter()
        .filter(|(n, r)| r["Type"] == "AWS::Serverless::Function" && *n != "AuditFunction")
    {
        assert!(
            function["Properties"]["Policies"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!({"Ref": "ReadPrincipalsPolicy"})),
            "{name} cannot read the ledger"
        );
    }
}

/// The audit runs on its schedule with the input its request parser takes, reads and writes only
/// its own reports (never an incident's ledger), and imports findings only into the account's own
/// product.
#[test]
fn the_audit_runs_daily_and_touches_only_its_own_reports() {
    let template = template();
    let audit = &template["Resources"]["AuditFunction"];
    let schedule = &audit["Properties"]["Events"]["Daily"];
    assert_eq!(schedule["Type"], "ScheduleV2");
    assert_eq!(
        schedule["Properties"]["ScheduleExpression"],
        serde_json::json!({"Ref": "AuditSchedule"})
    );
    let input: Value =
        serde_json::from_str(schedule["Properties"]["Input"].as_str().unwrap()).unwrap();
    assert_eq!(input, serde_json::json!({"audit": "scheduled"}));
    assert_eq!(
        audit["Properties"]["Environment"]["Variables"]["AUDIT_SECURITYHUB"],
        serde_json::json!({"Ref": "AuditImportFindings"})
    );
    let statements = allow_statements(&template, audit);
    let reports = serde_json::json!({"Fn::Sub": "${EvidenceBucket.Arn}/audits/*"});
    for action in ["s3:PutObject", "s3:GetObject"] {
        assert!(
            grants(&statements, action, &reports),
            "audit lacks {action} on its reports"
        );
    }
    let s3: Vec<String> = statements
        .iter()
        .filter(|s| s.to_string().contains("\"s3:"))
        .map(|s| s["Resource"].to_string())
        .collect();
    assert!(
        s3.iter().all(|r| !r.contains("incidents")),
        "the audit never reads or writes an incident: {s3:?}"
    );
    let code = std::fs::read_to_string(source("responder/audit.rs")).unwrap();
    assert!(code.contains("format!(\"audits/{}\"") && code.contains("/report.json"));
}

/// The StackSet deploys member-role.yaml itself (by URL, not a copy that could drift), passes
/// every one of its parameters through and nothing else, to every account of the units as they
/// join, in one Region (IAM is global), and always with the organization condition on the trust.
#[test]
fn the_stackset_deploys_the_member_roles_unchanged_to_every_account_of_the_units() {
    let member = member_template();
    let stackset = decoded("member-role-stackset.yaml");
    let set = &stackset["Resources"]["MemberRoles"]["Properties"];
    assert_eq!(set["PermissionModel"], "SERVICE_MANAGED");
    assert_eq!(set["AutoDeployment"]["Enabled"], true);
    assert_eq!(
        set["TemplateURL"],
        serde_json::json!({"Ref": "MemberRoleTemplateUrl"})
    );
    assert!(
        set.get("TemplateBody").is_none(),
        "a copy of member-role.yaml would drift"
    );
    assert_eq!(
        set["StackInstancesGroup"][0]["Regions"],
        serde_json::json!([{"Ref": "AWS::Region"}])
    );
    let passed: BTreeMap<String, Value> = set["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["ParameterKey"].as_str().unwrap().to_owned(),
                p["ParameterValue"].clone(),
            )
        })
        .collect();
    let expected: BTreeSet<String> = member["Parameters"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(passed.keys().cloned().collect::<BTreeSet<_>>(), expected);
    for (key, value) in &passed {
        assert_eq!(
            value,
            &serde_json::json!({"Ref": key}),
            "{key} is passed through"
        );
        assert!(
            stackset["Parameters"].get(key).is_some(),
            "{key} is a parameter of the StackSet"
        );
    }
    assert!(
        stackset["Parameters"]["OrganizationId"]
            .get("Default")
            .is_none(),
        "across an organization, the roles trust only its principals"
    );
}

/// The refused-principal alarm counts what `contain` really logs: the template's metric filter
/// (`{ $.fields.message = "refused*" }`) is applied to the JSON log lines of the real binary, run
/// as Lambda runs it with JSON logging, on a root request (refused) and on a user (contained).
#[tokio::test]
async fn every_refusal_reaches_the_refused_alarm_and_no_containment_does() {
    let template = template();
    let resources = template["Resources"].as_object().expect("resources");
    let filter = resources
        .values()
        .find(|r| {
            r["Type"] == "AWS::Logs::MetricFilter"
                && r["Properties"]["LogGroupName"]["Ref"] == "ContainLogGroup"
        })
        .expect("a metric filter on contain's logs");
    let pattern = filter["Properties"]["FilterPattern"].as_str().unwrap();
    let prefix = pattern
        .strip_prefix("{ $.fields.message = \"")
        .and_then(|p| p.strip_suffix("*\" }"))
        .unwrap_or_else(|| panic!("a pattern on the log message's start: {pattern}"));
    let metric = &filter["Properties"]["MetricTransformations"][0];
    let alarm = resources
        .values()
        .find(|r| {
            r["Type"] == "AWS::CloudWatch::Alarm"
                && r["Properties"]["MetricName"] == metric["MetricName"]
                && r["Properties"]["Namespace"] == metric["MetricNamespace"]
        })
        .expect("an alarm on the refused metric");
    assert_eq!(alarm["Properties"]["AlarmActions"][0]["Ref"], "AlarmTopic");
    assert_eq!(alarm["Properties"]["Threshold"], 0);

    let moto = harness::Moto::start();
    let iam = moto.iam().await;
    let user = harness::seed_user(&iam, "ci-deployer").await;
    harness::create_bucket(&moto.s3().await).await;
    let env = harness::lambda::environment(&moto, &[("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
    let contain = harness::lambda::binary("contain");
    let counted = |logs: &str| {
        logs.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| {
                l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(prefix))
            })
            .count()
    };
    let root = harness::lambda::invoke(&contain, &env, &harness::event("manual-root.json")).await;
    assert_eq!(
        root.result.as_ref().map(|r| r["status"].clone()).ok(),
        Some(Value::from("refused")),
        "{}",
        root.logs
    );
    assert_eq!(counted(&root.logs), 1, "one refusal counted: {}", root.logs);
    let contained = harness::lambda::invoke(
        &contain,
        &env,
        &harness::guardduty_finding(&user.name, &user.keys[0]),
    )
    .await;
    assert!(contained.result.is_ok(), "{}", contained.logs);
    assert_eq!(counted(&contained.logs), 0, "{}", contained.logs);
}

#[test]
fn each_member_role_allows_exactly_what_its_functions_code_calls() {
    let roles = member_side(&member_template());
    assert_eq!(roles.len(), MemberRole::ALL.len(), "one role per kind");
    let mut problems = Vec::new();
    for kind in MemberRole::ALL {
        let code: BTreeSet<String> = playbooks_of(kind).flat_map(code_side).collect();
        problems.extend(mismatches(
            &format!("member role {}", kind.suffix()),
            &code,
            &roles[kind.suffix()].1,
        ));
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    let read = &roles[MemberRole::Read.suffix()].1;
    assert!(
        read.iter()
            .all(|a| a.starts_with("get") || a.starts_with("list")),
        "the read-only member role must be read-only: {read:?}"
    );
    for (kind, (_, actions)) in &roles {
        if *kind != MemberRole::Release.suffix() {
            assert!(
                !actions
                    .iter()
                    .any(|a| a.starts_with("delete") || a.starts_with("detach")),
                "only the release member role removes Tourniquet's own policies: {kind} {actions:?}"
            );
        }
    }
}

#[test]
fn each_member_role_trusts_exactly_its_functions_roles_and_each_function_assumes_only_its_own() {
    let member = member_template();
    let template = template();
    let resources = template["Resources"].as_object().unwrap();
    for (suffix, (role, _)) in member_side(&member) {
        let kind = MemberRole::ALL
            .into_iter()
            .find(|k| k.suffix() == suffix)
            .unwrap();
        // The trust: the security account, narrowed to exactly the ARNs of one parameter.
        let statements = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
            .as_array()
            .unwrap();
        assert_eq!(statements.len(), 1, "{suffix}: one trust statement");
        let trust = &statements[0];
        let text = trust.to_string();
        assert!(
            !text.contains("ArnLike") && !text.contains("role/${"),
            "{suffix}: no pattern in the trust: {text}"
        );
        let parameter = format!("{suffix}TrustedRoleArns");
        let narrowed = &trust["Condition"]["StringEquals"]["Fn::If"];
        for branch in [&narrowed[1], &narrowed[2]] {
            assert_eq!(
                branch["aws:PrincipalArn"],
                serde_json::json!({"Ref": parameter}),
                "{suffix}: trusts exactly {parameter}, with or without the organization"
            );
        }
        assert!(
            member["Parameters"][&parameter]["Type"] == "CommaDelimitedList",
            "{parameter}"
        );
        // The parameter's value is the responder stack's output of the same kind: the roles of
        // exactly the functions that assume this member role.
        let output = &template["Outputs"][format!("Member{suffix}Trust")]["Value"];
        let logical: Vec<String> = match output.get("Fn::Join") {
            Some(join) => join[1].as_array().unwrap().clone(),
            None => vec![output.clone()],
        }
        .iter()
        .map(|v| {
            v["Fn::GetAtt"][0]
                .as_str()
                .expect("a role's ARN")
                .to_owned()
        })
        .collect();
        let trusted: BTreeSet<String> = logical
            .iter()
            .map(|role| binary_of(role.strip_suffix("Role").expect("<Function>Role")))
            .collect();
        assert_eq!(trusted, functions_of(kind), "Member{suffix}Trust");
        // And each of those functions may assume this member role, and no other.
        for function in &logical {
            let function = function.strip_suffix("Role").unwrap();
            let assumable: Vec<String> = resources[function]["Properties"]["Policies"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["Fn::If"][1]["Ref"].as_str())
                .filter_map(|name| {
                    let document = &resources[name]["Properties"]["PolicyDocument"];
                    document["Statement"][0]["Resource"]["Fn::Sub"]
                        .as_str()
                        .map(str::to_owned)
                })
                .collect();
            assert_eq!(
                assumable,
                [format!(
                    "arn:${{AWS::Partition}}:iam::*:role/${{MemberRoleName}}{suffix}"
                )],
                "{function} assumes only the {suffix} member role"
            );
        }
    }
}

/// A template value with its intrinsic functions worked out, as CloudFormation would with
/// `parameters` (`AWS::Partition` is `aws`): enough for `Ref`, `Fn::Sub`, `Fn::Join`, `Fn::Split`.
fn render(value: &Value, parameters: &BTreeMap<&str, Value>) -> Value {
    let text = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string())
    };
    match value {
        Value::Object(map) if map.len() == 1 => {
            let (function, argument) = map.iter().next().unwrap();
            match function.as_str() {
                "Ref" => {
                    let name = argument.as_str().unwrap();
                    if name == "AWS::Partition" {
                        "aws".into()
                    } else {
                        parameters
                            .get(name)
                            .unwrap_or_else(|| panic!("no value for {name}"))
                            .clone()
                    }
                }
                "Fn::Sub" => {
                    let mut out = argument.as_str().unwrap().to_owned();
                    for (name, value) in parameters
                        .iter()
                        .map(|(n, v)| (*n, v))
                        .chain([("AWS::Partition", &Value::from("aws"))])
                    {
                        out = out.replace(&format!("${{{name}}}"), &text(value));
                    }
                    assert!(!out.contains("${"), "unresolved: {out}");
                    out.into()
                }
                "Fn::Join" => {
                    let separator = argument[0].as_str().unwrap();
                    let parts = render(&argument[1], parameters);
                    let parts: Vec<String> = parts.as_array().unwrap().iter().map(text).collect();
                    parts.join(separator).into()
                }
                "Fn::Split" => {
                    let separator = argument[0].as_str().unwrap();
                    let whole = text(&render(&argument[1], parameters));
                    whole.split(separator).map(Value::from).collect()
                }
                _ => Value::Object(
                    map.iter()
                        .map(|(k, v)| (k.clone(), render(v, parameters)))
                        .collect(),
                ),
            }
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render(v, parameters)))
                .collect(),
        ),
        Value::Array(list) => list.iter().map(|v| render(v, parameters)).collect(),
        other => other.clone(),
    }
}

/// Whether an IAM-style pattern (`*` any run, `?` one character) matches `text`.
fn glob(pattern: &str, text: &str) -> bool {
    glob::Pattern::new(pattern).is_ok_and(|p| {
        p.matches_with(
            text,
            glob::MatchOptions {
                case_sensitive: true,
                require_literal_separator: false,
                require_literal_leading_dot: false,
            },
        )
    })
}

#[test]
fn the_guardrails_keep_everyone_but_administrators_off_tourniquet_and_fit_an_scp() {
    let guardrails = decoded("guardrails.yaml");
    let policy = &guardrails["Resources"]["TourniquetGuardrails"]["Properties"];
    assert_eq!(policy["Type"], "SERVICE_CONTROL_POLICY");
    // Rendered as it would be for an organization with a few administrator roles.
    let administrators = serde_json::json!([
        "arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_SecurityAdmin_*",
        "arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_Administrator_*",
        "arn:aws:iam::*:role/stacksets-exec-*",
        "arn:aws:iam::999988887777:role/IncidentCommander",
    ]);
    let parameters: BTreeMap<&str, Value> = [
        ("AdministratorRoleArns", administrators.clone()),
        ("ResponderAccountId", "999988887777".into()),
        ("ResponderStackName", "tourniquet-security-prod".into()),
        (
            "EvidenceBucketName",
            "tourniquet-security-prod-evidencebucket-1a2b3c4d5e6f".into(),
        ),
        ("MemberRoleName", "TourniquetMember".into()),
    ]
    .into_iter()
    .collect();
    let content = render(&policy["Content"], &parameters);
    let compact = serde_json::to_string(&content).unwrap();
    assert!(
        compact.len() <= 5120,
        "an SCP holds 5,120 characters; this one is {}",
        compact.len()
    );

    // Who a statement spares, and whether it denies `action` on `resource` to `principal`.
    let statements = content["Statement"].as_array().unwrap();
    let denied = |action: &str, resource: &str, principal: &str| -> bool {
        statements.iter().any(|s| {
            let list = |v: &Value| -> Vec<String> {
                match v {
                    Value::Array(l) => l.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
                    Value::String(one) => vec![one.clone()],
                    _ => vec![],
                }
            };
            s["Effect"] == "Deny"
                && list(&s["Action"]).iter().any(|a| a == action)
                && list(&s["Resource"]).iter().any(|r| glob(r, resource))
                && !list(&s["Condition"]["ArnNotLike"]["aws:PrincipalArn"])
                    .iter()
                    .any(|p| glob(p, principal))
        })
    };
    let attacker = "arn:aws:iam::999988887777:role/DeveloperAccess";
    let member_attacker = "arn:aws:iam::111122223333:user/ci-deployer";
    let admin = "arn:aws:iam::999988887777:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_SecurityAdmin_0123abcd";
    let contain =
        "arn:aws:iam::999988887777:role/tourniquet-security-prod-ContainFunctionRole-ABC123";
    let function = |name: &str| {
        format!(
            "arn:aws:lambda:eu-west-1:999988887777:function:tourniquet-security-prod-{name}-XyZ12"
        )
    };
    let bucket = "arn:aws:s3:::tourniquet-security-prod-evidencebucket-1a2b3c4d5e6f";
    let object = format!("{bucket}/incidents/guardduty-1/manifest.json");

    for action in [
        "lambda:UpdateFunctionCode",
        "lambda:UpdateFunctionConfiguration",
    ] {
        assert!(
            denied(action, &function("ContainFunction"), attacker),
            "{action}"
        );
        assert!(
            !denied(action, &function("ContainFunction"), admin),
            "{action} by an admin"
        );
    }
    assert!(denied(
        "lambda:InvokeFunction",
        &function("ReleaseFunction"),
        attacker
    ));
    assert!(denied(
        "lambda:InvokeFunction",
        &function("ReleaseFunction"),
        contain
    ));
    assert!(!denied(
        "lambda:InvokeFunction",
        &function("ReleaseFunction"),
        admin
    ));
    assert!(
        !denied(
            "lambda:InvokeFunction",
            &function("ContainFunction"),
            attacker
        ),
        "containing stays open to whoever may invoke contain"
    );
    for action in [
        "s3:PutObject",
        "s3:PutObjectRetention",
        "s3:DeleteObjectVersion",
        "s3:BypassGovernanceRetention",
    ] {
        assert!(denied(action, &object, attacker), "{action}");
        assert!(!denied(action, &object, admin), "{action} by an admin");
    }
    assert!(
        !denied("s3:PutObject", &object, contain),
        "the functions write evidence"
    );
    assert!(
        denied("s3:DeleteObjectVersion", &object, contain),
        "and never remove it"
    );
    for action in [
        "s3:PutBucketPolicy",
        "s3:PutBucketObjectLockConfiguration",
        "s3:PutLifecycleConfiguration",
    ] {
        assert!(denied(action, bucket, attacker), "{action}");
        assert!(denied(action, bucket, contain), "{action} by a function");
    }
    for kind in MemberRole::ALL {
        let role = format!(
            "arn:aws:iam::111122223333:role/TourniquetMember{}",
            kind.suffix()
        );
        for action in [
            "iam:UpdateAssumeRolePolicy",
            "iam:PutRolePolicy",
            "iam:AttachRolePolicy",
            "iam:DeleteRole",
        ] {
            assert!(denied(action, &role, member_attacker), "{action} on {role}");
            assert!(
                !denied(action, &role, admin),
                "{action} on {role} by an admin"
            );
        }
    }
    let reads = "arn:aws:iam::111122223333:policy/TourniquetMemberReads";
    assert!(denied("iam:CreatePolicyVersion", reads, member_attacker));
    assert!(
        denied("iam:CreateRole", contain, attacker),
        "no one takes a function role's name"
    );
    assert!(denied("iam:UpdateAssumeRolePolicy", contain, attacker));

    // What the guardrails name is what the stacks create: the member roles' and their policies'
    // names, the function and role names CloudFormation gives the Tourniquet stack.
    let member = member_template();
    for (_, resource) in member["Resources"].as_object().unwrap() {
        let name = match resource["Type"].as_str() {
            Some("AWS::IAM::Role") => &resource["Properties"]["RoleName"],
            Some("AWS::IAM::ManagedPolicy") => &resource["Properties"]["ManagedPolicyName"],
            _ => continue,
        };
        let name = name["Fn::Sub"].as_str().expect("named after RoleName");
        assert!(
            name.starts_with("${RoleName}"),
            "{name} is out of the guardrails' reach"
        );
    }
    let template = template();
    assert!(template["Resources"]["ReleaseFunction"]["Type"] == "AWS::Serverless::Function");
    for (name, resource) in template["Resources"].as_object().unwrap() {
        let named = match resource["Type"].as_str() {
            Some("AWS::Serverless::Function") => "FunctionName",
            Some("AWS::IAM::Role") => "RoleName",
            Some("AWS::IAM::ManagedPolicy") => "ManagedPolicyName",
            _ => continue,
        };
        assert!(
            resource["Properties"].get(named).is_none(),
            "{name}: a fixed name would escape the <stack>-<LogicalId>-* patterns"
        );
    }
}

#[test]
fn sam_build_copies_each_functions_binary_from_one_cargo_lambda_build() {
    let makefile = std::fs::read_to_string(root().join("Makefile")).unwrap();
    let rule = makefile
        .lines()
        .skip_while(|l| !l.starts_with("build-%Function: build"))
        .nth(1)
        .expect("the build-%Function rule sam build runs");
    assert!(
        rule.contains("sed -E 's/([a-z])([A-Z])/\\1-\\2/g' | tr A-Z a-z")
            && rule.contains("/bootstrap \"$(ARTIFACTS_DIR)/bootstrap\""),
        "the rule names binaries as binary_of does: {rule}"
    );
    let build = makefile
        .lines()
        .skip_while(|l| !l.starts_with("build: "))
        .nth(1)
        .unwrap();
    assert!(
        build.contains("cargo lambda build --release --arm64"),
        "{build}"
    );
    let samconfig = std::fs::read_to_string(root().join("samconfig.toml")).unwrap();
    assert!(
        samconfig.contains("build_in_source = true"),
        "built in the source tree, one target/ for every function"
    );
    // And the names it makes are the workspace's binaries.
    for logical in [
        "ContainFunction",
        "DeactivateAccessKeysFunction",
        "AttachDenyAllFunction",
    ] {
        assert!(
            root().join("functions").join(binary_of(logical)).is_dir(),
            "{logical}"
        );
    }
}

/// Every Identity Center operation a source file calls, as `sso:<op>` and `identitystore:<op>`
/// (lower case, no underscores): the code names its clients `sso` and `store`.
fn identity_center_calls(file: &Path) -> BTreeSet<String> {
    [("sso", "sso"), ("store", "identitystore")]
        .into_iter()
        .flat_map(|(client, service)| {
            calls(file, client)
                .into_iter()
                .map(move |name| format!("{service}:{}", name.replace('_', "")))
        })
        .collect()
}

/// The Identity Center operations each function's code calls: contain's and release's files.
fn identity_center_code(playbook: Playbook) -> BTreeSet<String> {
    let files: &[&str] = match playbook {
        Playbook::Contain => &["mod.rs", "contain.rs"],
        Playbook::Release => &["mod.rs", "release.rs"],
        _ => &[],
    };
    files
        .iter()
        .flat_map(|f| identity_center_calls(&source(&format!("responder/identity_center/{f}"))))
        .collect()
}

/// The Identity Center actions a policy document allows, as [`identity_center_calls`] names them.
fn identity_center_allowed(document: &Value) -> BTreeSet<String> {
    allowed_actions(document)
        .into_iter()
        .filter(|a| a.starts_with("sso:") || a.starts_with("identitystore:"))
        .map(|a| a.to_lowercase())
        .collect()
}

/// The policy documents a function's role or a member role carries.
fn documents(resources: &serde_json::Map<String, Value>, policies: &Value) -> Vec<Value> {
    policies
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| match p["Ref"].as_str() {
            Some(name) => resources[name]["Properties"]["PolicyDocument"].clone(),
            None if p.get("PolicyDocument").is_some() => p["PolicyDocument"].clone(),
            None => p.clone(),
        })
        .collect()
}

#[test]
fn each_role_allows_exactly_the_identity_center_calls_its_code_makes() {
    let template = template();
    let resources = template["Resources"].as_object().unwrap();
    let mut problems = Vec::new();
    let mut compare = |role: &str, code: BTreeSet<String>, granted: BTreeSet<String>| {
        for a in code.difference(&granted) {
            problems.push(format!(
                "{role}: the code calls {a}, the role does not allow it"
            ));
        }
        for a in granted.difference(&code) {
            problems.push(format!(
                "{role}: the role allows {a}, the code never calls it"
            ));
        }
    };
    for (logical, function) in resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
    {
        let binary = binary_of(logical);
        let playbook = Playbook::ALL
            .into_iter()
            .find(|p| p.name() == binary)
            .unwrap();
        let granted = documents(resources, &function["Properties"]["Policies"])
            .iter()
            .flat_map(identity_center_allowed)
            .collect();
        compare(&binary, identity_center_code(playbook), granted);
    }
    let member = member_template();
    let resources = member["Resources"].as_object().unwrap();
    for (suffix, (role, _)) in member_side(&member) {
        let kind = MemberRole::ALL
            .into_iter()
            .find(|k| k.suffix() == suffix)
            .unwrap();
        let code = playbooks_of(kind).flat_map(identity_center_code).collect();
        let granted = documents(resources, &role["Properties"]["Policies"])
            .iter()
            .chain(&documents(
                resources,
                &role["Properties"]["ManagedPolicyArns"],
            ))
            .flat_map(identity_center_allowed)
            .collect();
        compare(&format!("member role {suffix}"), code, granted);
    }
    assert!(
        identity_center_code(Playbook::Contain).contains("sso:provisionpermissionset"),
        "the scan finds the calls"
    );
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// Every setting the code reads (`lookup("NAME")` and the helpers `set`, `flag`, `count`, `days`
/// built on it), outside the unit tests.
fn settings_read() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for pattern in ["shared/*/src/**/*.rs", "functions/*/src/**/*.rs"] {
        let pattern = root().join(pattern);
        for file in glob::glob(pattern.to_str().unwrap()).unwrap() {
            let text = std::fs::read_to_string(file.unwrap()).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for reader in [
                "lookup(\"",
                "set(\"",
                "flag(\"",
                "count(\"",
                "days(\"",
                // The settings helpers take the lookup first: `setting::list(&lookup, "NAME")`.
                "lookup, \"",
            ] {
                for (i, _) in code.match_indices(reader) {
                    let name: String = code[i + reader.len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    if !name.is_empty() && code[i + reader.len() + name.len()..].starts_with('"') {
                        names.insert(name);
                    }
                }
            }
        }
    }
    names
}

#[test]
fn every_setting_the_code_reads_can_be_set_from_the_template() {
    let template = template();
    let mut set: BTreeSet<String> = BTreeSet::new();
    let mut add = |variables: &Value| {
        if let Some(variables) = variables.as_object() {
            set.extend(variables.keys().cloned());
        }
    };
    add(&template["Globals"]["Function"]["Environment"]["Variables"]);
    for resource in template["Resources"].as_object().unwrap().values() {
        add(&resource["Properties"]["Environment"]["Variables"]);
    }
    let read = settings_read();
    // The scan finds what it should: a setting of the core, of the hunt, of Identity Center.
    for known in [
        "EVIDENCE_BUCKET",
        "HUNT_REGIONS",
        "IDENTITY_CENTER_PROTECTED_USERS",
    ] {
        assert!(read.contains(known), "{known} not found in {read:?}");
    }
    let missing: Vec<&String> = read.difference(&set).collect();
    assert!(
        missing.is_empty(),
        "read by the code but set by no function of the template: {missing:?}"
    );
}
