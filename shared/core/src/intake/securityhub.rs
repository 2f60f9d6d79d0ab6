//! Security Hub findings (ASFF), from a custom action a human chose or imported automatically:
//! every finding whose resources are an IAM access key, user or role.
//!
//! Anyone allowed `securityhub:BatchImportFindings` can import a finding into the account's own
//! product naming any principal, so an imported finding is acted on only when an AWS-owned product
//! on the allowlist raised it, and a finding of either kind only for principals of its own account.

use super::{
    Incident, Intake, Options, Source, Target, Trigger, digest, ignored, principal_at, timestamp,
};
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
    product_arn: Option<String>,
    last_observed_at: Option<String>,
    first_observed_at: Option<String>,
    #[serde(default)]
    resources: Vec<Resource>,
    record_state: Option<String>,
    workflow: Option<Workflow>,
    severity: Option<Severity>,
    #[serde(default)]
    types: Vec<String>,
    /// The provider's own severity and types: `BatchUpdateFindings` can rewrite `Severity` and
    /// `Types` above, not these.
    finding_provider_fields: Option<ProviderFields>,
    /// Name-value pairs anyone allowed `securityhub:BatchUpdateFindings` may set; Tourniquet's
    /// own mark is one ([`crate::notify::INCIDENT_FIELD`]).
    /// `null` or absent is none; a value that is not a string is no mark.
    #[serde(default)]
    user_defined_fields: Option<std::collections::BTreeMap<String, Value>>,
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
struct ProviderFields {
    severity: Option<ProviderSeverity>,
    types: Option<Vec<String>>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProviderSeverity {
    label: Option<String>,
    original: Option<String>,
}

impl ProviderSeverity {
    /// On GuardDuty's 0-10 scale: GuardDuty's own score (its `Original`), else the lower bound
    /// of `Label`'s range.
    fn score(&self) -> Option<f64> {
        if let Some(score) = self
            .original
            .as_deref()
            .and_then(|o| o.trim().parse::<f64>().ok())
            .filter(|s| (0.0..=10.0).contains(s))
        {
            return Some(score);
        }
        label_score(self.label.as_deref()?)
    }
}

impl Finding {
    /// The provider's severity: the one field of it nobody but the provider writes.
    fn provider_score(&self) -> Option<f64> {
        self.finding_provider_fields
            .as_ref()
            .and_then(|p| p.severity.as_ref())
            .and_then(ProviderSeverity::score)
    }

    /// The provider's types, where it gave them; else the finding's.
    fn provider_types(&self) -> &[String] {
        self.finding_provider_fields
            .as_ref()
            .and_then(|p| p.types.as_deref())
            .unwrap_or(&self.types)
    }
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Severity {
    normalized: Option<f64>,
    label: Option<String>,
}

impl Severity {
    /// On GuardDuty's 0-10 scale: `Normalized` / 10, or the lower bound of `Label`'s range.
    fn score(&self) -> Option<f64> {
        if let Some(normalized) = self.normalized {
            return Some(normalized / 10.0);
        }
        label_score(self.label.as_deref()?)
    }
}

/// The lower bound of a severity label's range, on GuardDuty's 0-10 scale.
fn label_score(label: &str) -> Option<f64> {
    match label {
        "INFORMATIONAL" => Some(0.0),
        "LOW" => Some(0.1),
        "MEDIUM" => Some(4.0),
        "HIGH" => Some(7.0),
        "CRITICAL" => Some(9.0),
        _ => None,
    }
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Resource {
    #[serde(rename = "Type")]
    resource_type: String,
    id: String,
    /// `aws`, `aws-cn` or `aws-us-gov`.
    partition: Option<String>,
    #[serde(default)]
    details: Value,
}

pub(super) fn parse(
    event: EventBridgeEvent<Findings>,
    options: &Options,
) -> Result<Intake, InputError> {
    // A custom action is a human's choice: it is acted on whatever the finding's state or product.
    let chosen = event.detail_type.ends_with("Custom Action");
    let selection = select(&event.detail.findings, chosen, options);
    let Selection {
        targets,
        acted,
        not_acted_on,
        skipped,
        last_seen,
        first_seen,
    } = selection;
    if acted.is_empty() {
        return nothing_to_act_on(not_acted_on, &skipped);
    }
    let acted_on: Vec<&str> = acted.iter().map(|f| f.id.as_str()).collect();
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
    let trigger = if chosen {
        Trigger::Human
    } else {
        Trigger::Automatic
    };
    let findings = acted
        .iter()
        .filter_map(|f| {
            Some(super::FindingRef {
                id: f.id.clone(),
                product_arn: f.product_arn.clone()?,
            })
        })
        .collect();
    Ok(Intake::Incident(Box::new(Incident {
        reason: Some(reason),
        last_seen,
        first_seen,
        skipped,
        severity: highest_severity(&acted),
        findings,
        echo_of: if chosen { None } else { echo_of(&acted) },
        ..Incident::new(id, Source::SecurityHub, trigger, targets)
    })))
}

/// What the findings of one event come to: the ones acted on, with their targets and times, and
/// why the others are not.
#[derive(Default)]
struct Selection<'a> {
    targets: Vec<Target>,
    acted: Vec<&'a Finding>,
    /// `<finding id>: <why>`, for each finding not acted on.
    not_acted_on: Vec<String>,
    /// The resources (or, of a chosen finding, the findings) that could not be read.
    skipped: Vec<InputError>,
    last_seen: Option<chrono::DateTime<chrono::Utc>>,
    first_seen: Option<chrono::DateTime<chrono::Utc>>,
}

/// Sorts the findings into acted on and not: an imported finding must be actionable
/// ([`not_actionable`]), and any finding that names another account's principal is not acted on.
fn select<'a>(findings: &'a [Finding], chosen: bool, options: &Options) -> Selection<'a> {
    let mut selection = Selection::default();
    for (i, finding) in findings.iter().enumerate() {
        if !chosen && let Some(why) = not_actionable(finding, options) {
            selection
                .not_acted_on
                .push(format!("{}: {why}", finding.id));
            continue;
        }
        // A human chose the finding, but not what it says: a finding of the account's own
        // product was imported by whoever may call BatchImportFindings.
        if chosen && aws_product(finding.product_arn.as_deref().unwrap_or_default()).is_none() {
            selection.not_acted_on.push(format!(
                "{}: product `{}` is not an AWS-owned product: anyone allowed \
                 securityhub:BatchImportFindings can import such findings; invoke contain with \
                 each principal_arn you mean",
                finding.id,
                finding.product_arn.as_deref().unwrap_or_default()
            ));
            continue;
        }
        // Even a human's choice does not make a compliance finding a compromise: the readiness
        // audit's `admin-policy` finding names every holder of AdministratorAccess.
        if chosen && !is_threat(finding) {
            selection.not_acted_on.push(format!(
                "{}: not a threat detection (types {:?}): a compliance finding names who holds a \
                 policy, not who is compromised; invoke contain with each principal_arn you mean",
                finding.id,
                finding.provider_types()
            ));
            continue;
        }
        let (found, malformed) = resources(finding, i);
        // A finding may name principals of its own account only: one that names another account's
        // is not what Security Hub's product raised about this account, and is not acted on at all.
        if let Some(foreign) = found
            .iter()
            .find_map(|t| foreign_account(t, &finding.aws_account_id))
        {
            let why = format!(
                "names a principal of account {foreign}, but the finding is about account {} \
                 (AwsAccountId): not acted on",
                finding.aws_account_id
            );
            if chosen {
                let field = format!("detail.findings[{i}].Resources");
                selection.skipped.push(InputError::new(field, why));
            } else {
                selection
                    .not_acted_on
                    .push(format!("{}: {why}", finding.id));
            }
            continue;
        }
        selection.skipped.extend(malformed);
        if !found.is_empty() {
            selection.targets.extend(found);
            selection.acted.push(finding);
            let last_seen = timestamp(finding.last_observed_at.as_deref());
            selection.last_seen = selection.last_seen.max(last_seen);
            if let Some(seen) = timestamp(finding.first_observed_at.as_deref()) {
                selection.first_seen = Some(selection.first_seen.map_or(seen, |f| f.min(seen)));
            }
        }
    }
    selection
}

/// The targets finding `i`'s resources name, and the errors of those that could not be read.
fn resources(finding: &Finding, i: usize) -> (Vec<Target>, Vec<InputError>) {
    let mut found = Vec::new();
    let mut malformed = Vec::new();
    for (j, resource) in finding.resources.iter().enumerate() {
        let field = format!("detail.findings[{i}].Resources[{j}]");
        match target(resource, &finding.aws_account_id, &field) {
            Ok(target) => found.extend(target),
            Err(err) => malformed.push(err),
        }
    }
    (found, malformed)
}

/// An event none of whose findings is acted on: the first malformed resource is the error when
/// every finding was otherwise actionable; else it is ignored, with every reason.
fn nothing_to_act_on(
    not_acted_on: Vec<String>,
    skipped: &[InputError],
) -> Result<Intake, InputError> {
    if let Some(first) = skipped.first().filter(|_| not_acted_on.is_empty()) {
        return Err(first.clone());
    }
    let mut reasons = not_acted_on;
    reasons.extend(skipped.iter().map(InputError::to_string));
    ignored(if reasons.is_empty() {
        "no Security Hub finding names an IAM access key, user or role".to_string()
    } else {
        format!("no Security Hub finding to act on ({})", reasons.join("; "))
    })
}

/// The incident whose update an imported event re-emits: the same mark on every finding.
///
/// Security Hub re-emits a finding Tourniquet updated, as imported: the mark names the incident
/// whose ledger may show that update. A human's custom action is never taken for an echo.
fn echo_of(acted: &[&Finding]) -> Option<String> {
    let marks: Vec<Option<&str>> = acted
        .iter()
        .map(|f| {
            f.user_defined_fields
                .as_ref()?
                .get(crate::notify::INCIDENT_FIELD)
                .and_then(Value::as_str)
        })
        .collect();
    match marks.first() {
        Some(Some(first)) if marks.iter().all(|m| m == &Some(*first)) => Some((*first).to_owned()),
        _ => None,
    }
}

/// The label of the highest severity among the findings that have one.
fn highest_severity(acted: &[&Finding]) -> Option<String> {
    acted
        .iter()
        .filter_map(|f| {
            f.provider_score()
                .or_else(|| f.severity.as_ref().and_then(Severity::score))
        })
        .fold(None, |max: Option<f64>, s| {
            Some(max.map_or(s, |m| m.max(s)))
        })
        .map(|s| super::severity_label(s).to_owned())
}

/// The account of a target's principal when it is not `account`.
fn foreign_account(target: &Target, account: &str) -> Option<String> {
    let theirs = target
        .principal
        .as_ref()
        .map(|p| p.account_id.as_str())
        .or(target.account_id.as_deref())?;
    (theirs != account).then(|| theirs.to_owned())
}

/// The AWS-owned product an ASFF `ProductArn` names (`arn:<partition>:securityhub:<region>::
/// product/aws/<name>`, with no account): `None` for a product of a customer or a partner.
fn aws_product(product_arn: &str) -> Option<&str> {
    let parts: Vec<&str> = product_arn.splitn(6, ':').collect();
    let ["arn", _partition, "securityhub", _region, "", resource] = parts[..] else {
        return None;
    };
    let name = resource.strip_prefix("product/aws/")?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
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

/// Whether the provider classified the finding as a threat detection.
fn is_threat(finding: &Finding) -> bool {
    finding.provider_types().iter().any(|t| {
        THREAT_NAMESPACES
            .iter()
            .any(|ns| t.starts_with(&format!("{ns}/")))
    })
}

/// Why an imported finding is not acted on: not from an AWS-owned product on the allowlist,
/// archived, resolved or suppressed, not a threat, or without a severity over the threshold.
fn not_actionable(finding: &Finding, options: &Options) -> Option<String> {
    let product_arn = finding.product_arn.as_deref().unwrap_or_default();
    match aws_product(product_arn) {
        None => {
            return Some(format!(
                "product `{product_arn}` is not an AWS-owned product (product/aws/...): anyone \
                 allowed securityhub:BatchImportFindings can import such findings"
            ));
        }
        Some(name)
            if !options
                .securityhub_products
                .iter()
                .any(|p| p.eq_ignore_ascii_case(name)) =>
        {
            return Some(format!(
                "product `{name}` is not on the allowlist ({}; SECURITYHUB_PRODUCTS)",
                options.securityhub_products.join(", ")
            ));
        }
        Some(_) => {}
    }
    if finding.record_state.as_deref() == Some("ARCHIVED") {
        return Some("archived".into());
    }
    if !is_threat(finding) {
        return Some(format!(
            "not a threat detection (types {:?}); compliance findings are not compromises",
            finding.provider_types()
        ));
    }
    if let Some(status) = finding.workflow.as_ref().and_then(|w| w.status.as_deref())
        && matches!(status, "RESOLVED" | "SUPPRESSED")
    {
        return Some(format!("workflow status {status}"));
    }
    let Some(severity) = finding.provider_score() else {
        if finding
            .severity
            .as_ref()
            .and_then(Severity::score)
            .is_some()
        {
            return Some(
                "no severity of the provider's own (FindingProviderFields.Severity): the \
                 finding's Severity, which anyone allowed securityhub:BatchUpdateFindings may \
                 rewrite, is not trusted; not acted on"
                    .into(),
            );
        }
        return Some("no severity (Severity.Normalized or Severity.Label): not acted on".into());
    };
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
            .and_then(|p| {
                p.map(|p| p.in_partition(resource.partition.as_deref().unwrap_or("aws")))
                    .transpose()
            })
            .map_err(|e| InputError::new(name_field, e))?;
            Ok(Some(match principal {
                Some(p) => Target::principal(p, Some(key)),
                None => Target::key(key, Some(account.to_owned())),
            }))
        }
        _ => Ok(None),
    }
}
