//! The `audit` playbook: read the account (credential report, account summary, password policy,
//! authorization details), check it ([`crate::audit`]), import the findings to Security Hub, and
//! store the report and its summary in the evidence bucket under `audits/<account>/<stamp>/`.
//! Read-only towards IAM.

use super::Responder;
use crate::audit::{
    self, Account, AuditReport, Group, InlinePolicy, ManagedPolicy, PasswordPolicy, Role, User,
    checks::Context, findings::Finding,
};
use crate::error::{Error, InputError, describe};
use crate::evidence;
use crate::ledger::EvidenceObject;
use crate::principal::Principal;
use crate::report::Evidence;
use crate::snapshot::{absent_is_none, decode_policy};
use aws_sdk_iam::types::{AttachedPolicy, EntityType, PolicyDetail, ReportStateType, Tag};
use aws_sdk_securityhub::types as sh;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use tracing::{info, warn};

/// Findings per `BatchImportFindings` request (Security Hub's limit).
const IMPORT_BATCH: usize = 100;

/// How long the audit waits for IAM to generate the credential report.
const REPORT_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// What `audit` answers.
#[derive(Debug, Serialize)]
pub struct AuditAnswer {
    /// `audited`, or `planned` for a dry run (nothing imported or stored).
    pub status: &'static str,
    /// The account audited.
    pub account_id: String,
    /// When.
    pub audited_at: String,
    /// Verdicts, failures, passes, failures by severity.
    pub counts: BTreeMap<String, usize>,
    /// Findings sent to Security Hub (failures, and the ones fixed since the last audit).
    pub findings_imported: usize,
    /// Every failing verdict (the report in the evidence bucket has the passing ones too).
    pub failed: Vec<audit::Verdict>,
    /// Failures of the last audit no longer found.
    pub resolved: Vec<String>,
    /// The report and summary stored.
    pub evidence: Vec<Evidence>,
    /// What could not be read or sent.
    pub warnings: Vec<String>,
    /// The Markdown summary.
    pub summary: String,
}

/// The audit's request: `{}` (a schedule's, or a human's), optionally `{"dry_run": true}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(default)]
    dry_run: bool,
    /// The schedule's marker (`"scheduled"`); any string is accepted and logged.
    #[serde(default)]
    audit: Option<String>,
}

/// The audit's request: `{}` or `{"dry_run": true}`; an error names the field.
fn parse_request(event: &Value) -> Result<Request, Error> {
    serde_path_to_error::deserialize(event).map_err(|e| {
        let field = e.path().to_string();
        Error::InvalidEvent(InputError::new(
            if field == "." {
                "(event)".into()
            } else {
                field
            },
            format!(
                "{}; the audit takes {{}} or {{\"dry_run\": true}}",
                e.inner()
            ),
        ))
    })
}

/// Every failed check in the log, with its severity.
fn log_failures(report: &AuditReport) {
    for v in report
        .verdicts
        .iter()
        .filter(|v| v.status == audit::Compliance::Failed)
    {
        let severity = audit::checks::check(&v.check).map_or("", |c| c.severity.label());
        warn!(check = %v.check, severity, resource = %v.resource.id, "{}", v.detail);
    }
}

impl Responder {
    /// Runs the audit of the function's own account.
    pub(super) async fn audit(&self, event: Value) -> Result<AuditAnswer, Error> {
        let request = parse_request(&event)?;
        let dry_run = request.dry_run || self.config.dry_run;
        let now = (self.clock)();
        let stamp = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        info!(
            trigger = request.audit.as_deref().unwrap_or("invoked"),
            dry_run, "audit started"
        );
        let me = self
            .identity
            .get_or_try_init(|| self.own_identity())
            .await?;
        let prefix = format!("audits/{}", me.account_id);
        let (mut report, previous) = self.assess(me, &prefix, now, &stamp).await?;
        let region = self
            .securityhub
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default();
        let findings =
            audit::findings::findings(&report, previous.as_ref(), &me.partition, &region);
        log_failures(&report);
        let mut imported = 0;
        let mut evidence = Vec::new();
        if !dry_run {
            if self.config.audit.securityhub {
                imported = self.import(&findings, &mut report.warnings).await;
            }
            let folder = format!("{prefix}/{}", crate::ledger::format_stamp(now));
            evidence = self.store_audit(&folder, &mut report, &findings, now).await;
        }
        let answer = AuditAnswer {
            status: if dry_run { "planned" } else { "audited" },
            account_id: report.account_id.clone(),
            audited_at: stamp,
            counts: report.counts.clone(),
            findings_imported: imported,
            failed: report
                .verdicts
                .iter()
                .filter(|v| v.status == audit::Compliance::Failed)
                .cloned()
                .collect(),
            resolved: report.resolved.clone(),
            evidence,
            summary: audit::findings::summary(&report),
            warnings: report.warnings,
        };
        info!(
            failed = answer.counts.get("failed").copied().unwrap_or(0),
            passed = answer.counts.get("passed").copied().unwrap_or(0),
            imported,
            "audit done"
        );
        Ok(answer)
    }

    /// The account read and judged, in one wave with the last audit's report (the account's
    /// reads and it are independent); the report marks what was fixed since the last one.
    async fn assess(
        &self,
        me: &Principal,
        prefix: &str,
        now: DateTime<Utc>,
        stamp: &str,
    ) -> Result<(AuditReport, Option<AuditReport>), Error> {
        let (read, previous) = tokio::join!(self.read_account(me), self.previous_audit(prefix));
        let (account, report_at, mut warnings) = read?;
        let own = |p: &Principal| self.config.guard.built_in_protection(p).is_some();
        let cx = Context {
            options: &self.config.audit,
            protected: &self.config.guard.protected,
            own: &own,
            now,
        };
        let verdicts = audit::audit(&account, &cx);
        let previous = match previous {
            Ok(previous) => previous,
            Err(e) => {
                warnings.push(format!(
                    "the last audit's report could not be read ({e}): failures fixed since are not marked PASSED"
                ));
                None
            }
        };
        let report = audit::findings::report(
            &me.account_id,
            verdicts,
            previous.as_ref(),
            stamp,
            report_at,
            &self.config.audit,
            warnings,
        );
        Ok((report, previous))
    }

    /// The report, the findings and the Markdown summary, stored at once; what could not be
    /// stored is a warning of the report.
    async fn store_audit(
        &self,
        folder: &str,
        report: &mut AuditReport,
        findings: &[Finding],
        now: DateTime<Utc>,
    ) -> Vec<Evidence> {
        let objects = [
            EvidenceObject::json(format!("{folder}/report.json"), &*report),
            EvidenceObject::json(format!("{folder}/findings.json"), &findings),
            EvidenceObject::text(
                format!("{folder}/summary.md"),
                audit::findings::summary(report).into_bytes(),
                "text/markdown; charset=utf-8",
            ),
        ];
        let retention = self.config.retention.as_ref().map(|r| (r, now));
        let puts = objects
            .iter()
            .map(|o| evidence::put(&*self.evidence, o, retention));
        let mut evidence = Vec::new();
        for stored in futures::future::join_all(puts).await {
            match stored {
                Ok(stored) => evidence.push(stored),
                Err(e) => report.warnings.push(format!("not stored: {e}")),
            }
        }
        evidence
    }

    /// The account as the checks read it, its four reads at once (each paced like every IAM
    /// request), with when IAM generated its credential report and what could not be checked.
    async fn read_account(
        &self,
        me: &Principal,
    ) -> Result<(Account, Option<String>, Vec<String>), Error> {
        let mut warnings = Vec::new();
        let ((credentials, report_at), summary, password_policy, details) = tokio::try_join!(
            self.credential_report(),
            self.account_summary(),
            self.password_policy(),
            self.authorization_details(&mut warnings),
        )?;
        let account = Account {
            account_id: me.account_id.clone(),
            partition: me.partition.clone(),
            credentials,
            summary,
            password_policy,
            ..details
        };
        Ok((account, report_at, warnings))
    }

    /// The credential report, generated first (IAM makes a new one at most every 4 hours, and
    /// answers COMPLETE at once for a recent one), and when IAM generated it.
    async fn credential_report(
        &self,
    ) -> Result<(Vec<audit::CredentialRow>, Option<String>), Error> {
        let started = tokio::time::Instant::now();
        loop {
            let out = self
                .iam
                .generate_credential_report()
                .send()
                .await
                .map_err(|e| iam_failed("GenerateCredentialReport", describe(&e)))?;
            if out.state() == Some(&ReportStateType::Complete) {
                break;
            }
            if started.elapsed() > REPORT_WAIT {
                return Err(Error::Aws(format!(
                    "IAM did not finish the credential report within {} s; run the audit again later",
                    REPORT_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
        let report = self
            .iam
            .get_credential_report()
            .send()
            .await
            .map_err(|e| iam_failed("GetCredentialReport", describe(&e)))?;
        let report_at = report
            .generated_time()
            .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok());
        let csv = report.content.map(|b| b.into_inner()).unwrap_or_default();
        let credentials =
            audit::credential_report::parse(&csv).map_err(|e| Error::Aws(e.to_string()))?;
        Ok((credentials, report_at))
    }

    /// `GetAccountSummary`'s map, by name.
    async fn account_summary(&self) -> Result<BTreeMap<String, i64>, Error> {
        Ok(self
            .iam
            .get_account_summary()
            .send()
            .await
            .map_err(|e| iam_failed("GetAccountSummary", describe(&e)))?
            .summary_map
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.as_str().to_owned(), i64::from(v)))
            .collect())
    }

    /// The password policy; `None` when the account has none (IAM's defaults apply).
    async fn password_policy(&self) -> Result<Option<PasswordPolicy>, Error> {
        let out = absent_is_none(
            "GetAccountPasswordPolicy",
            self.iam.get_account_password_policy().send().await,
        )
        .map_err(|e| iam_failed("GetAccountPasswordPolicy", e.detail))?;
        Ok(out.and_then(|o| o.password_policy).map(|p| PasswordPolicy {
            minimum_length: p.minimum_password_length.unwrap_or(0),
            reuse_prevention: p.password_reuse_prevention.unwrap_or(0),
            uppercase: p.require_uppercase_characters,
            lowercase: p.require_lowercase_characters,
            numbers: p.require_numbers,
            symbols: p.require_symbols,
        }))
    }

    /// Every page of the authorization details: the users, groups, roles and managed policies of
    /// an [`Account`] (its other fields empty).
    async fn authorization_details(&self, warnings: &mut Vec<String>) -> Result<Account, Error> {
        let mut account = Account::default();
        let mut pages = self
            .iam
            .get_account_authorization_details()
            .set_filter(Some(vec![
                EntityType::User,
                EntityType::Role,
                EntityType::Group,
                EntityType::LocalManagedPolicy,
                EntityType::AwsManagedPolicy,
            ]))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| iam_failed("GetAccountAuthorizationDetails", describe(&e)))?;
            for u in page.user_detail_list() {
                let arn = u.arn().unwrap_or_default().to_owned();
                account.users.push(User {
                    name: u.user_name().unwrap_or_default().to_owned(),
                    inline: inline(&arn, u.user_policy_list(), warnings),
                    attached: attached(u.attached_managed_policies()),
                    groups: u.group_list().to_vec(),
                    tags: tags(u.tags()),
                    boundary: u
                        .permissions_boundary()
                        .and_then(|b| b.permissions_boundary_arn().map(str::to_owned)),
                    arn,
                });
            }
            for g in page.group_detail_list() {
                let arn = g.arn().unwrap_or_default().to_owned();
                account.groups.push(Group {
                    name: g.group_name().unwrap_or_default().to_owned(),
                    inline: inline(&arn, g.group_policy_list(), warnings),
                    attached: attached(g.attached_managed_policies()),
                    arn,
                });
            }
            for r in page.role_detail_list() {
                let arn = r.arn().unwrap_or_default().to_owned();
                account.roles.push(Role {
                    name: r.role_name().unwrap_or_default().to_owned(),
                    trust: decoded(
                        format!("{arn} trust policy"),
                        r.assume_role_policy_document(),
                        warnings,
                    )
                    .unwrap_or(Value::Null),
                    inline: inline(&arn, r.role_policy_list(), warnings),
                    attached: attached(r.attached_managed_policies()),
                    tags: tags(r.tags()),
                    last_used: r
                        .role_last_used()
                        .and_then(|l| l.last_used_date())
                        .and_then(|d| DateTime::<Utc>::from_timestamp(d.secs(), 0)),
                    boundary: r
                        .permissions_boundary()
                        .and_then(|b| b.permissions_boundary_arn().map(str::to_owned)),
                    arn,
                });
            }
            for p in page.policies() {
                let arn = p.arn().unwrap_or_default().to_owned();
                let default = p
                    .policy_version_list()
                    .iter()
                    .find(|v| v.is_default_version());
                account.policies.push(ManagedPolicy {
                    name: p.policy_name().unwrap_or_default().to_owned(),
                    document: default.and_then(|v| {
                        decoded(format!("{arn} default version"), v.document(), warnings)
                    }),
                    arn,
                });
            }
        }
        Ok(account)
    }

    /// The account's last audit report, if any: the latest `audits/<account>/<stamp>/report.json`
    /// (the stamps sort as they were written).
    async fn previous_audit(
        &self,
        prefix: &str,
    ) -> Result<Option<AuditReport>, evidence::EvidenceError> {
        let store = &*self.evidence;
        let keys = store.list(&format!("{prefix}/")).await.map_err(|source| {
            evidence::EvidenceError::List {
                location: store.location(),
                prefix: format!("{prefix}/"),
                source,
            }
        })?;
        let latest = keys.iter().filter(|k| k.ends_with("/report.json")).max();
        let Some(key) = latest else { return Ok(None) };
        evidence::read_record(store, key, "an audit report")
            .await
            .map(Some)
    }

    /// Imports the findings, [`IMPORT_BATCH`] a request; returns how many Security Hub took, and
    /// adds a warning for each it refused or could not be sent.
    async fn import(&self, findings: &[Finding], warnings: &mut Vec<String>) -> usize {
        let mut imported = 0;
        for batch in findings.chunks(IMPORT_BATCH) {
            let request = self
                .securityhub
                .batch_import_findings()
                .set_findings(Some(batch.iter().map(asff).collect()));
            match request.send().await {
                Ok(out) => {
                    imported += usize::try_from(out.success_count.unwrap_or(0)).unwrap_or(0);
                    for failed in out.failed_findings() {
                        warnings.push(format!(
                            "Security Hub refused {}: {} {}",
                            failed.id().unwrap_or_default(),
                            failed.error_code().unwrap_or_default(),
                            failed.error_message().unwrap_or_default()
                        ));
                    }
                }
                Err(e) => warnings.push(format!(
                    "securityhub:BatchImportFindings failed for {} findings: {}",
                    batch.len(),
                    describe(&e)
                )),
            }
        }
        imported
    }
}

fn iam_failed(what: &str, e: String) -> Error {
    Error::Aws(format!("iam:{what} failed: {e}"))
}

/// A policy document as IAM gives it (URL-encoded JSON), decoded; one that is not JSON is a
/// warning and is not checked.
fn decoded(what: String, encoded: Option<&str>, warnings: &mut Vec<String>) -> Option<Value> {
    match decode_policy(encoded?) {
        Ok(document) => Some(document),
        Err(e) => {
            warnings.push(format!("{what}: {e}; not checked"));
            None
        }
    }
}

/// A principal's inline policies, decoded.
fn inline(owner: &str, list: &[PolicyDetail], warnings: &mut Vec<String>) -> Vec<InlinePolicy> {
    list.iter()
        .filter_map(|p| {
            let name = p.policy_name().unwrap_or_default().to_owned();
            let document = decoded(
                format!("{owner} inline {name}"),
                p.policy_document(),
                warnings,
            )?;
            Some(InlinePolicy { name, document })
        })
        .collect()
}

/// The ARNs of the managed policies attached.
fn attached(list: &[AttachedPolicy]) -> Vec<String> {
    list.iter()
        .filter_map(|a| a.policy_arn().map(str::to_owned))
        .collect()
}

fn tags(list: &[Tag]) -> BTreeMap<String, String> {
    list.iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

/// The SDK's form of a finding.
fn asff(f: &Finding) -> sh::AwsSecurityFinding {
    let mut builder = sh::AwsSecurityFinding::builder()
        .schema_version(&f.schema_version)
        .id(&f.id)
        .product_arn(&f.product_arn)
        .generator_id(&f.generator_id)
        .aws_account_id(&f.aws_account_id)
        .set_types(Some(f.types.clone()))
        .created_at(&f.created_at)
        .updated_at(&f.updated_at)
        .severity(
            sh::Severity::builder()
                .label(sh::SeverityLabel::from(f.severity.label.as_str()))
                .build(),
        )
        .title(&f.title)
        .description(&f.description)
        .remediation(
            sh::Remediation::builder()
                .recommendation(
                    sh::Recommendation::builder()
                        .text(&f.remediation.recommendation.text)
                        .url(&f.remediation.recommendation.url)
                        .build(),
                )
                .build(),
        )
        .compliance(
            sh::Compliance::builder()
                .status(match f.compliance.status {
                    audit::Compliance::Failed => sh::ComplianceStatus::Failed,
                    audit::Compliance::Passed => sh::ComplianceStatus::Passed,
                })
                .set_related_requirements(
                    (!f.compliance.related_requirements.is_empty())
                        .then(|| f.compliance.related_requirements.clone()),
                )
                .build(),
        )
        .record_state(sh::RecordState::from(f.record_state.as_str()))
        .set_product_fields(Some(f.product_fields.clone().into_iter().collect()));
    for r in &f.resources {
        builder = builder.resources(
            sh::Resource::builder()
                .r#type(format!("{:?}", r.kind))
                .id(&r.id)
                .partition(sh::Partition::from(r.partition.as_str()))
                .region(&r.region)
                .build(),
        );
    }
    builder.build()
}
