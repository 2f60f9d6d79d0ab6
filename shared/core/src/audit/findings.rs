//! The audit's output: the report (carrying each failure's first sighting from the previous one),
//! the Security Hub findings (ASFF) of what fails and of what was fixed since, and the Markdown
//! summary a human reads first.

use super::checks::{Severity, check};
use super::{AuditReport, Compliance, Options, ResourceKind, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Builds the report of `verdicts`, read at `now`, after `previous` (the account's last report).
pub fn report(
    account_id: &str,
    verdicts: Vec<Verdict>,
    previous: Option<&AuditReport>,
    now: &str,
    credential_report_at: Option<String>,
    options: &Options,
    warnings: Vec<String>,
) -> AuditReport {
    let failed: BTreeSet<String> = verdicts
        .iter()
        .filter(|v| v.status == Compliance::Failed)
        .map(Verdict::key)
        .collect();
    let first_seen = failed
        .iter()
        .map(|key| {
            let since = previous
                .and_then(|p| p.first_seen.get(key))
                .cloned()
                .unwrap_or_else(|| now.to_owned());
            (key.clone(), since)
        })
        .collect();
    let resolved = previous
        .into_iter()
        .flat_map(|p| p.first_seen.keys())
        .filter(|key| !failed.contains(*key))
        .cloned()
        .collect();
    let failures = verdicts
        .iter()
        .filter(|v| v.status == Compliance::Failed)
        .count();
    let mut counts = BTreeMap::new();
    counts.insert("verdicts".to_owned(), verdicts.len());
    counts.insert("failed".to_owned(), failures);
    counts.insert("passed".to_owned(), verdicts.len() - failures);
    for v in verdicts.iter().filter(|v| v.status == Compliance::Failed) {
        if let Some(c) = check(&v.check) {
            *counts.entry(c.severity.label().to_lowercase()).or_default() += 1;
        }
    }
    let thresholds = BTreeMap::from([
        ("key_max_age_days".to_owned(), options.key_max_age_days),
        ("unused_days".to_owned(), options.unused_days),
        ("root_use_days".to_owned(), options.root_use_days),
    ]);
    AuditReport {
        account_id: account_id.to_owned(),
        audited_at: now.to_owned(),
        credential_report_at,
        thresholds,
        counts,
        verdicts,
        first_seen,
        resolved,
        warnings,
    }
}

/// A Security Hub finding in the AWS Security Finding Format (the fields the audit sets, named
/// and shaped as ASFF names them: this is also what `findings.json` stores).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Finding {
    /// `2018-10-08`.
    pub schema_version: String,
    /// `tourniquet-audit/<account>/<check>/<resource>`: the same on every run, so that a run
    /// updates the finding instead of adding one.
    pub id: String,
    /// The account's own product, `product/<account>/default`.
    pub product_arn: String,
    /// `tourniquet-audit/<check>`.
    pub generator_id: String,
    /// The account audited.
    pub aws_account_id: String,
    /// Under `Software and Configuration Checks/`.
    pub types: Vec<String>,
    /// When the failure was first seen.
    pub created_at: String,
    /// This audit.
    pub updated_at: String,
    /// The check's severity (`INFORMATIONAL` once it passes).
    pub severity: Label,
    /// The check's title.
    pub title: String,
    /// What was found.
    pub description: String,
    /// The remedy, and the page that explains it.
    pub remediation: Remediation,
    /// `FAILED` or `PASSED`, and the requirements the check meets.
    pub compliance: ComplianceField,
    /// The resource, then the principals the verdict concerns (at most 32 in all).
    pub resources: Vec<FindingResource>,
    /// `tourniquet/check`, `tourniquet/practice`.
    pub product_fields: BTreeMap<String, String>,
    /// `ACTIVE`.
    pub record_state: String,
}

/// ASFF `Severity`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Label {
    /// `INFORMATIONAL`, `LOW`, `MEDIUM`, `HIGH`, `CRITICAL`.
    pub label: String,
}

/// ASFF `Remediation`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Remediation {
    /// The recommendation.
    pub recommendation: Recommendation,
}

/// ASFF `Remediation.Recommendation`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Recommendation {
    /// What to do.
    pub text: String,
    /// Where it is explained.
    pub url: String,
}

/// ASFF `Compliance`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ComplianceField {
    /// `FAILED` or `PASSED`.
    pub status: Compliance,
    /// The requirements the check meets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related_requirements: Vec<String>,
}

/// ASFF `Resources[]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FindingResource {
    /// `AwsAccount`, `AwsIamUser`, `AwsIamRole`, `AwsIamPolicy`.
    #[serde(rename = "Type")]
    pub kind: ResourceKind,
    /// The ARN (the account's `AWS::::Account:<id>`).
    pub id: String,
    /// The partition.
    pub partition: String,
    /// The Region the finding is imported in (IAM is global).
    pub region: String,
}

/// ASFF's limits on the text fields.
const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 1024;
const REMEDY_MAX: usize = 512;
const RESOURCES_MAX: usize = 32;

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// The kind of resource an ARN names, for a verdict's related principals.
fn kind_of(arn: &str) -> ResourceKind {
    if arn.contains(":user/") {
        ResourceKind::AwsIamUser
    } else if arn.contains(":role/") {
        ResourceKind::AwsIamRole
    } else {
        // Groups have no ASFF type of their own the audit uses; the policy type is the closest.
        ResourceKind::AwsIamPolicy
    }
}

/// The finding of one verdict.
pub fn finding(
    verdict: &Verdict,
    partition: &str,
    region: &str,
    account_id: &str,
    created_at: &str,
    updated_at: &str,
) -> Finding {
    let c = check(&verdict.check);
    let practice = c.map_or("", |c| c.practice);
    let cis = practice.starts_with("CIS");
    let kind = if cis {
        "Industry and Regulatory Standards/CIS AWS Foundations Benchmark"
    } else {
        "AWS Security Best Practices"
    };
    let severity = match verdict.status {
        Compliance::Passed => "INFORMATIONAL",
        Compliance::Failed => c.map_or(Severity::Medium, |c| c.severity).label(),
    };
    let resources = std::iter::once((verdict.resource.kind, verdict.resource.id.clone()))
        .chain(
            verdict
                .related
                .iter()
                .map(|arn| (kind_of(arn), arn.clone())),
        )
        .take(RESOURCES_MAX)
        .map(|(kind, id)| FindingResource {
            kind,
            id,
            partition: partition.to_owned(),
            region: region.to_owned(),
        })
        .collect();
    Finding {
        schema_version: "2018-10-08".into(),
        id: format!("tourniquet-audit/{account_id}/{}", verdict.key()),
        product_arn: format!(
            "arn:{partition}:securityhub:{region}:{account_id}:product/{account_id}/default"
        ),
        generator_id: format!("tourniquet-audit/{}", verdict.check),
        aws_account_id: account_id.to_owned(),
        types: vec![format!("Software and Configuration Checks/{kind}")],
        created_at: created_at.to_owned(),
        updated_at: updated_at.to_owned(),
        severity: Label {
            label: severity.into(),
        },
        title: cut(c.map_or(verdict.check.as_str(), |c| c.title), TITLE_MAX),
        description: cut(&verdict.detail, DESCRIPTION_MAX),
        remediation: Remediation {
            recommendation: Recommendation {
                text: cut(c.map_or("", |c| c.remedy), REMEDY_MAX),
                url: c.map_or("", |c| c.url).to_owned(),
            },
        },
        compliance: ComplianceField {
            status: verdict.status,
            related_requirements: c
                .map(|c| c.requirements.iter().map(|r| (*r).to_owned()).collect())
                .unwrap_or_default(),
        },
        resources,
        product_fields: BTreeMap::from([
            ("tourniquet/check".to_owned(), verdict.check.clone()),
            ("tourniquet/practice".to_owned(), practice.to_owned()),
        ]),
        record_state: "ACTIVE".into(),
    }
}

/// The findings to import: every failure, and every failure of `previous` that is fixed (its
/// passing verdict, or, when the resource is gone, the old verdict marked passed).
pub fn findings(
    report: &AuditReport,
    previous: Option<&AuditReport>,
    partition: &str,
    region: &str,
) -> Vec<Finding> {
    let now = report.audited_at.as_str();
    let account = report.account_id.as_str();
    let failures = report
        .verdicts
        .iter()
        .filter(|v| v.status == Compliance::Failed)
        .map(|v| {
            let since = report.first_seen.get(&v.key()).map_or(now, String::as_str);
            finding(v, partition, region, account, since, now)
        });
    let current: BTreeMap<String, &Verdict> =
        report.verdicts.iter().map(|v| (v.key(), v)).collect();
    let fixed = report.resolved.iter().filter_map(|key| {
        let since = previous
            .and_then(|p| p.first_seen.get(key))
            .map_or(now, String::as_str);
        match current.get(key) {
            Some(v) => Some(finding(v, partition, region, account, since, now)),
            None => {
                let old = previous?.verdicts.iter().find(|v| &v.key() == key)?;
                let gone = Verdict {
                    status: Compliance::Passed,
                    detail: format!("no longer found ({})", old.detail),
                    ..old.clone()
                };
                Some(finding(&gone, partition, region, account, since, now))
            }
        }
    });
    failures.chain(fixed).collect()
}

/// The Markdown summary stored beside the report and shown by the demo.
pub fn summary(report: &AuditReport) -> String {
    let count = |k: &str| report.counts.get(k).copied().unwrap_or(0);
    let mut out = format!(
        "# IAM readiness audit of {}\n\n{} at {}: **{} failing**, {} passing",
        report.account_id,
        "Audited",
        report.audited_at,
        count("failed"),
        count("passed"),
    );
    let by_severity: Vec<String> = ["critical", "high", "medium", "low"]
        .iter()
        .filter(|s| count(s) > 0)
        .map(|s| format!("{} {s}", count(s)))
        .collect();
    if !by_severity.is_empty() {
        out.push_str(&format!(" ({})", by_severity.join(", ")));
    }
    if !report.resolved.is_empty() {
        out.push_str(&format!(
            "; {} fixed since the last audit",
            report.resolved.len()
        ));
    }
    out.push_str(".\n\n");
    let failed: Vec<&Verdict> = report
        .verdicts
        .iter()
        .filter(|v| v.status == Compliance::Failed)
        .collect();
    if !failed.is_empty() {
        out.push_str("| Severity | Check | Resource | Found |\n|---|---|---|---|\n");
        for v in failed {
            let c = check(&v.check);
            out.push_str(&format!(
                "| {} | {} | `{}` | {} |\n",
                c.map_or("", |c| c.severity.label()),
                v.check,
                v.resource.id,
                v.detail.replace('|', "\\|"),
            ));
        }
        out.push('\n');
    }
    for key in &report.resolved {
        out.push_str(&format!("- fixed: `{key}`\n"));
    }
    for warning in &report.warnings {
        out.push_str(&format!("- warning: {warning}\n"));
    }
    out
}
