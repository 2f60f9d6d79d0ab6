//! Security Hub findings (ASFF), from a custom action a human chose or imported automatically:
//! every finding whose resources are an IAM access key, user or role.

use super::{Incident, Intake, Options, Source, Target, digest, ignored, principal_at};
use crate::error::InputError;
use crate::principal::{Principal, check_access_key_id};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize, Serialize)]
pub(super) struct Findings {
    findings: Vec<Finding>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Finding {
    id: String,
    aws_account_id: String,
    #[serde(default)]
    resources: Vec<Resource>,
    record_state: Option<String>,
    workflow: Option<Workflow>,
    severity: Option<Severity>,
    #[serde(default)]
    types: Vec<String>,
}

/// ASFF type namespaces of threat detections; everything else (`Software and Configuration
/// Checks/...`: an IAM user without MFA, say) is a compliance finding, not a compromise.
const THREAT_NAMESPACES: [&str; 3] = ["TTPs", "Effects", "Unusual Behaviors"];

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Workflow {
    status: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Severity {
    normalized: Option<f64>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Resource {
    #[serde(rename = "Type")]
    resource_type: String,
    id: String,
    #[serde(default)]
    details: Value,
}

pub(super) fn parse(
    event: EventBridgeEvent<Findings>,
    options: &Options,
) -> Result<Intake, InputError> {
    // A custom action is a human's choice: it is acted on whatever the finding's state.
    let chosen = event.detail_type.ends_with("Custom Action");
    let mut targets = Vec::new();
    let mut acted_on = Vec::new();
    let mut skipped = Vec::new();
    for (i, finding) in event.detail.findings.iter().enumerate() {
        if !chosen && let Some(why) = not_actionable(finding, options) {
            skipped.push(format!("{}: {why}", finding.id));
            continue;
        }
        let before = targets.len();
        for (j, resource) in finding.resources.iter().enumerate() {
            let field = format!("detail.findings[{i}].Resources[{j}]");
            targets.extend(target(resource, &finding.aws_account_id, &field)?);
        }
        if targets.len() > before {
            acted_on.push(finding.id.as_str());
        }
    }
    if acted_on.is_empty() {
        return ignored(if skipped.is_empty() {
            "no Security Hub finding names an IAM access key, user or role".to_string()
        } else {
            format!("no Security Hub finding to act on ({})", skipped.join("; "))
        });
    }
    let reason = format!(
        "{} ({} finding{})",
        event.detail_type,
        acted_on.len(),
        if acted_on.len() == 1 { "" } else { "s" }
    );
    // GuardDuty's findings reach Security Hub too: the same finding is the same incident.
    let id = match acted_on[..] {
        [one] => guardduty_finding_id(one).map(|id| format!("guardduty-{id}")),
        _ => None,
    }
    .unwrap_or_else(|| format!("securityhub-{}", digest(&acted_on.join("\n"))));
    Ok(Intake::Incident(Incident {
        id,
        source: Source::SecurityHub,
        reason: Some(reason),
        dry_run: false,
        targets,
    }))
}

/// The GuardDuty finding id in an ASFF finding id that is a GuardDuty finding ARN.
fn guardduty_finding_id(asff_id: &str) -> Option<&str> {
    let (prefix, id) = asff_id.rsplit_once("/finding/")?;
    let valid = prefix.starts_with("arn:")
        && prefix.contains(":guardduty:")
        && !id.is_empty()
        && id.len() <= 100
        && id.chars().all(|c| c.is_ascii_alphanumeric());
    valid.then_some(id)
}

/// Why an imported finding is not acted on: archived, resolved or suppressed, or below the threshold.
fn not_actionable(finding: &Finding, options: &Options) -> Option<String> {
    if finding.record_state.as_deref() == Some("ARCHIVED") {
        return Some("archived".into());
    }
    let threat = finding.types.iter().any(|t| {
        THREAT_NAMESPACES
            .iter()
            .any(|ns| t.starts_with(&format!("{ns}/")))
    });
    if !threat {
        return Some(format!(
            "not a threat detection (types {:?}); compliance findings are not compromises",
            finding.types
        ));
    }
    if let Some(status) = finding.workflow.as_ref().and_then(|w| w.status.as_deref())
        && matches!(status, "RESOLVED" | "SUPPRESSED")
    {
        return Some(format!("workflow status {status}"));
    }
    let severity = finding.severity.as_ref().and_then(|s| s.normalized)? / 10.0;
    (severity < options.severity_threshold).then(|| {
        format!(
            "severity {severity} below the threshold {} (SEVERITY_THRESHOLD)",
            options.severity_threshold
        )
    })
}

/// The target an IAM resource names; other resource types name none.
fn target(resource: &Resource, account: &str, field: &str) -> Result<Option<Target>, InputError> {
    match resource.resource_type.as_str() {
        "AwsIamUser" | "AwsIamRole" => {
            let principal = principal_at(&format!("{field}.Id"), &resource.id)?;
            Ok(Some(Target::principal(principal, None)))
        }
        "AwsIamAccessKey" => {
            let details = &resource.details["AwsIamAccessKey"];
            let key = details["AccessKeyId"]
                .as_str()
                .or_else(|| resource.id.strip_prefix("AWS::IAM::AccessKey:"))
                .unwrap_or(&resource.id)
                .to_owned();
            check_access_key_id(&key).map_err(|e| InputError::new(format!("{field}.Id"), e))?;
            // PrincipalName is current; UserName is its deprecated predecessor.
            let name = details["PrincipalName"]
                .as_str()
                .or_else(|| details["UserName"].as_str());
            let account = details["AccountId"].as_str().unwrap_or(account);
            let name_field = format!("{field}.Details.AwsIamAccessKey.PrincipalName");
            let principal = match (details["PrincipalType"].as_str(), name) {
                (Some("AssumedRole" | "Role"), Some(name)) => Some(Principal::role(account, name)),
                (Some("Root"), _) => Some(Principal::root(account)),
                (_, Some(name)) => Some(Principal::user(account, name)),
                (_, None) => None,
            }
            .transpose()
            .map_err(|e| InputError::new(name_field, e))?;
            Ok(Some(match principal {
                Some(p) => Target::principal(p, Some(key)),
                None => Target::key(key, Some(account.to_owned())),
            }))
        }
        _ => Ok(None),
    }
}
