//! The planner: pure functions that decide, from an incident and what IAM said, which steps to take,
//! which are already in place, and which principals must not be touched.

use crate::error::Unread;
use crate::guard::Guard;
use crate::principal::{Principal, PrincipalKind};
use crate::report::Outcome;
pub use crate::step::{Action, Route};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// The inline deny-all policy, and the managed one used when the inline one does not fit.
pub const DENY_POLICY_NAME: &str = "TourniquetDenyAll";
/// The inline policy that denies sessions issued before the containment.
pub const REVOKE_POLICY_NAME: &str = "TourniquetRevokeOlderSessions";
/// The IAM path of Tourniquet's managed policies.
pub const MANAGED_PATH: &str = "/tourniquet/";
/// The group a user joins when neither an inline nor a managed deny fits.
pub const QUARANTINE_GROUP: &str = "TourniquetQuarantine";
/// Tag key carrying the incident id of the containment.
pub const INCIDENT_TAG: &str = "tourniquet:incident";
/// Tag key carrying when the incident's first containment ran (UTC, RFC 3339).
pub const CONTAINED_AT_TAG: &str = "tourniquet:contained-at";
/// Tag key carrying the incident's session cutoff, so that a replay can keep it.
pub const SESSION_CUTOFF_TAG: &str = "tourniquet:session-cutoff";
/// Tag key a release leaves: which incident was released.
pub const RELEASED_TAG: &str = "tourniquet:released-incident";
/// Tag key a release leaves: when (UTC, RFC 3339).
pub const RELEASED_AT_TAG: &str = "tourniquet:released-at";

/// The tag keys Tourniquet writes on a principal.
pub const OWN_TAGS: [&str; 5] = [
    INCIDENT_TAG,
    CONTAINED_AT_TAG,
    SESSION_CUTOFF_TAG,
    RELEASED_TAG,
    RELEASED_AT_TAG,
];

/// Whether an inline policy is exactly one Tourniquet creates: a look-alike name
/// (`TourniquetBackdoor`) is someone else's and belongs in the evidence.
pub fn is_own_inline_policy(name: &str) -> bool {
    name == DENY_POLICY_NAME || name == REVOKE_POLICY_NAME
}

/// Whether a managed policy ARN is exactly one Tourniquet creates for `principal`.
pub fn is_own_managed_policy(arn: &str, principal: &Principal) -> bool {
    [
        DENY_POLICY_NAME.to_owned(),
        managed_revoke_policy_name(principal),
    ]
    .iter()
    .any(|name| {
        arn.starts_with("arn:")
            && arn.ends_with(&format!(
                ":{}:policy{MANAGED_PATH}{name}",
                principal.account_id
            ))
    })
}

/// The name Tourniquet gives its own managed policy when `name` is held by a policy it did not
/// write: the name, then `-` and `scope` as 16 lower-case hex digits, random per write, so that
/// nobody can take the name beforehand.
pub fn scoped_policy_name(name: &str, scope: u64) -> String {
    format!("{name}-{scope:016x}")
}

/// Whether `arn` is `base_arn` or a [`scoped_policy_name`] of it. Only for an ARN the ledger
/// records (the ledger is Tourniquet's, checked against its manifests): anyone can create a
/// policy of such a name, so a name found on a principal proves nothing.
pub fn is_recorded_policy_of(arn: &str, base_arn: &str) -> bool {
    arn == base_arn
        || arn
            .strip_prefix(base_arn)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|scope| {
                scope.len() == 16
                    && scope
                        .chars()
                        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            })
}

/// Whether `existing` (a policy document as IAM holds it, parsed) is `ours`, the document
/// Tourniquet means to put in force: the deny-all, or the session cutoff document with the cutoff
/// this run wants (its own, or the earlier one its incident's ledger keeps). Documents are
/// compared parsed, never as text: IAM answers them URL-encoded and may reorder nothing else.
pub fn is_own_document(existing: &serde_json::Value, ours: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(ours).is_ok_and(|ours| existing == &ours)
}

/// Whether a group ARN is exactly Tourniquet's quarantine group.
pub fn is_own_group(arn: &str) -> bool {
    arn.starts_with("arn:") && arn.ends_with(&format!(":group{MANAGED_PATH}{QUARANTINE_GROUP}"))
}

/// The deny-all document: `Deny *` on `*`.
pub fn deny_all_document() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "TourniquetContainment",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*"
        }]
    })
    .to_string()
}

/// The session cutoff for a containment started at `started`: rounded up to the next whole second
/// (UTC), so that a session issued in the same second as the containment is denied too.
pub fn session_cutoff(started: DateTime<Utc>) -> String {
    let floor = started
        .duration_trunc(TimeDelta::seconds(1))
        .unwrap_or(started);
    let cutoff = if floor == started {
        floor
    } else {
        floor + TimeDelta::seconds(1)
    };
    cutoff.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The revoke-older-sessions document, as the IAM console's "Revoke active sessions" writes it:
/// deny everything to sessions whose token was issued before `cutoff`.
pub fn revoke_sessions_document(cutoff: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "TourniquetRevokeOlderSessions",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}}
        }]
    })
    .to_string()
}

/// The cutoff a revoke-sessions document carries, if it is one.
pub fn cutoff_of(document: &serde_json::Value) -> Option<String> {
    let statements = match &document["Statement"] {
        serde_json::Value::Array(list) => list.clone(),
        single => vec![single.clone()],
    };
    statements.iter().find_map(|s| {
        s["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
            .as_str()
            .map(str::to_owned)
    })
}

/// The per-principal managed policy that carries the session cutoff when the inline one does not fit.
pub fn managed_revoke_policy_name(principal: &Principal) -> String {
    let kind = match principal.kind {
        PrincipalKind::Role => "role",
        _ => "user",
    };
    format!("TourniquetRevokeOlderSessions-{kind}-{}", principal.name)
}

/// Which functions run which steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Playbook {
    /// `contain`: every step.
    Contain,
    /// `snapshot`: the forensic snapshot only; no IAM write.
    Snapshot,
    /// `deactivate-access-keys`: every active access key of a user.
    DeactivateAccessKeys,
    /// `attach-deny-all`: the deny-all, on a user or a role.
    AttachDenyAll,
    /// `revoke-sessions`: deny sessions issued before now.
    RevokeSessions,
    /// `release`: undo a containment from its ledger (see [`crate::release`]).
    Release,
    /// `audit`: the readiness audit of the own account (see [`crate::audit`]); no IAM write.
    Audit,
    /// `hunt`: a hunt by hand, or the second one `contain` queued (see [`crate::hunt`]): what the
    /// credentials did, and `contain`'s steps for what they left.
    Hunt,
}

impl Playbook {
    /// Every function, in the order of the README's table.
    pub const ALL: [Playbook; 8] = [
        Playbook::Contain,
        Playbook::Snapshot,
        Playbook::DeactivateAccessKeys,
        Playbook::AttachDenyAll,
        Playbook::RevokeSessions,
        Playbook::Release,
        Playbook::Audit,
        Playbook::Hunt,
    ];

    /// The function's name.
    pub fn name(self) -> &'static str {
        match self {
            Playbook::Contain => "contain",
            Playbook::Snapshot => "snapshot",
            Playbook::DeactivateAccessKeys => "deactivate-access-keys",
            Playbook::AttachDenyAll => "attach-deny-all",
            Playbook::RevokeSessions => "revoke-sessions",
            Playbook::Release => "release",
            Playbook::Audit => "audit",
            Playbook::Hunt => "hunt",
        }
    }

    /// The member role this function enters other accounts with: each has exactly its
    /// functions' power there, and trusts exactly their roles (`member-role.yaml`). The audit
    /// enters none: it audits the account it is deployed in.
    pub fn member_role(self) -> Option<MemberRole> {
        match self {
            Playbook::Snapshot => Some(MemberRole::Read),
            Playbook::Release => Some(MemberRole::Release),
            Playbook::Contain
            | Playbook::Hunt
            | Playbook::DeactivateAccessKeys
            | Playbook::AttachDenyAll
            | Playbook::RevokeSessions => Some(MemberRole::Contain),
            Playbook::Audit => None,
        }
    }

    /// Whether this function carries out `action`.
    pub fn runs(self, action: Action) -> bool {
        match (self, action) {
            (Playbook::Snapshot | Playbook::Audit, _) => false,
            (Playbook::Release, a) => !a.is_containment(),
            (_, a) if !a.is_containment() => false,
            (Playbook::Contain | Playbook::Hunt, _) | (_, Action::TagPrincipal) => true,
            (Playbook::DeactivateAccessKeys, a) => a == Action::DeactivateAccessKey,
            (Playbook::AttachDenyAll, a) => a == Action::AttachDenyAll,
            (Playbook::RevokeSessions, a) => a == Action::RevokeSessions,
        }
    }
}

/// The three roles `member-role.yaml` creates in every member account, by what they may do. Their
/// names are `MEMBER_ROLE_NAME` followed by the suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberRole {
    /// Reads only: the forensic snapshot.
    Read,
    /// Reads and the containment writes.
    Contain,
    /// Reads and the undos of a release.
    Release,
}

impl MemberRole {
    /// Every member role.
    pub const ALL: [MemberRole; 3] = [MemberRole::Read, MemberRole::Contain, MemberRole::Release];

    /// What follows `MEMBER_ROLE_NAME` in the role's name.
    pub fn suffix(self) -> &'static str {
        match self {
            MemberRole::Read => "Read",
            MemberRole::Contain => "Contain",
            MemberRole::Release => "Release",
        }
    }
}

/// The ARN of one of Tourniquet's managed policies in the principal's account.
pub fn managed_policy_arn(principal: &Principal, name: &str) -> String {
    format!(
        "arn:{}:iam::{}:policy{MANAGED_PATH}{name}",
        principal.partition, principal.account_id
    )
}

/// One change to make.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What it does.
    pub action: Action,
    /// What it acts on: the policy name, the key id, the tag.
    pub target: String,
    /// Containment-critical: goes out in the first wave, before anything is read.
    pub critical: bool,
    /// Set when the step is not attempted: why (e.g. what it needs could not be read).
    pub blocked: Option<String>,
    /// For `tag_principal`: the tags to write.
    pub tags: Vec<(String, String)>,
}

impl Step {
    fn new(action: Action, target: impl Into<String>, critical: bool) -> Self {
        Self {
            action,
            target: target.into(),
            critical,
            blocked: None,
            tags: Vec::new(),
        }
    }
}

/// What is fixed for one run: the incident, when the run started, and its session cutoff.
#[derive(Clone, Copy, Debug)]
pub struct Run<'a> {
    /// The incident id.
    pub incident_id: &'a str,
    /// When the run started (UTC, RFC 3339).
    pub now: &'a str,
    /// This run's session cutoff ([`session_cutoff`] of the start).
    pub cutoff: &'a str,
}

/// An access key and whether it is active.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyState {
    /// The key id.
    pub id: String,
    /// `Active` (true) or `Inactive`.
    pub active: bool,
}

/// A user's credential other than its access keys and password.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// An X.509 signing certificate.
    SigningCertificate,
    /// An SSH public key (CodeCommit).
    SshPublicKey,
    /// A service-specific credential (CodeCommit, Amazon Keyspaces, Bedrock API keys).
    ServiceSpecificCredential,
}

impl CredentialKind {
    /// Every kind, in the order the report lists them.
    pub const ALL: [CredentialKind; 3] = [
        CredentialKind::SigningCertificate,
        CredentialKind::SshPublicKey,
        CredentialKind::ServiceSpecificCredential,
    ];

    /// The name in a step's target (`ssh_public_key:APKA...`).
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::SigningCertificate => "signing_certificate",
            CredentialKind::SshPublicKey => "ssh_public_key",
            CredentialKind::ServiceSpecificCredential => "service_specific_credential",
        }
    }

    /// The kind in words, plural, for messages.
    pub fn plural(self) -> &'static str {
        match self {
            CredentialKind::SigningCertificate => "signing certificates",
            CredentialKind::SshPublicKey => "SSH public keys",
            CredentialKind::ServiceSpecificCredential => "service-specific credentials",
        }
    }

    /// A step's target: `<kind>:<id>`.
    pub fn target(self, id: &str) -> String {
        format!("{}:{id}", self.as_str())
    }

    /// The kind and id a step's target names.
    pub fn parse_target(target: &str) -> Option<(CredentialKind, &str)> {
        let (kind, id) = target.split_once(':')?;
        let kind = Self::ALL.into_iter().find(|k| k.as_str() == kind)?;
        (!id.is_empty()).then_some((kind, id))
    }
}

/// A user's credentials of one kind, as listed (a role has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialsState {
    /// Which kind.
    pub kind: CredentialKind,
    /// Each credential's id and whether it is active, or why they could not be listed.
    pub listed: Result<Vec<KeyState>, Unread>,
}

/// What the planner needs to know of a principal, as read in the first wave.
/// Each part is `Err` with the reason when IAM would not tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrincipalState {
    /// Access keys (a role has none).
    pub access_keys: Result<Vec<KeyState>, Unread>,
    /// Names of inline policies, Tourniquet's own included.
    pub inline_policy_names: Result<Vec<String>, Unread>,
    /// ARNs of attached managed policies, Tourniquet's own included.
    pub attached_policy_arns: Result<Vec<String>, Unread>,
    /// Names of the user's groups (a role has none).
    pub group_names: Result<Vec<String>, Unread>,
    /// Tags.
    pub tags: Result<Vec<(String, String)>, Unread>,
    /// The cutoff of Tourniquet's inline revoke-sessions policy, if the principal has one.
    pub session_cutoff: Result<Option<String>, Unread>,
    /// A user's other credentials, by kind (empty for a role, or before they were read).
    pub credentials: Vec<CredentialsState>,
}

impl PrincipalState {
    /// What the key listing alone tells, before the rest of the first read has answered.
    pub fn keys_only(access_keys: Result<Vec<KeyState>, Unread>) -> Self {
        fn unread<T>() -> Result<T, Unread> {
            Err("not read yet".into())
        }
        Self {
            access_keys,
            inline_policy_names: unread(),
            attached_policy_arns: unread(),
            group_names: unread(),
            tags: unread(),
            session_cutoff: unread(),
            credentials: Vec::new(),
        }
    }

    /// The credential a `<kind>:<id>` target names, as listed: `Some(active)`.
    pub fn credential(&self, target: &str) -> Option<bool> {
        let (kind, id) = CredentialKind::parse_target(target)?;
        self.credentials
            .iter()
            .filter(|c| c.kind == kind)
            .find_map(|c| c.listed.as_ref().ok())?
            .iter()
            .find(|k| k.id == id)
            .map(|k| k.active)
    }

    /// The incident id a previous containment tagged the principal with, if any.
    pub fn incident_tag(&self) -> Option<&str> {
        self.tag(INCIDENT_TAG)
    }

    /// The value of one tag, if the principal carries it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .as_ref()
            .ok()?
            .iter()
            .find_map(|(k, v)| (k == key).then_some(v.as_str()))
    }

    fn has_managed(&self, name: &str) -> bool {
        self.attached_policy_arns.as_ref().is_ok_and(|arns| {
            arns.iter()
                .any(|a| a.ends_with(&format!("{MANAGED_PATH}{name}")))
        })
    }
}

/// Options from the configuration that change the plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `ROLE_DENY_ALL`: also deny everything to a role (stops the workload, not just old sessions).
    pub role_deny_all: bool,
}

/// Why a principal must not be contained, and what a human must do instead.
pub fn refusal(
    principal: &Principal,
    responder: &Principal,
    guard: &Guard,
    playbook: Playbook,
) -> Option<String> {
    let name = principal.name.as_str();
    if principal.kind == PrincipalKind::Root {
        return Some(
            "IAM policies cannot restrict the root user. A human must act now: sign in as root, \
             delete or rotate its access keys, change its password, check its MFA device, and \
             review CloudTrail for its recent calls; in an AWS Organization, an SCP can restrict a \
             member account's root."
                .into(),
        );
    }
    if principal.partition != responder.partition {
        return Some(format!(
            "{principal} is in partition {}, but this responder runs in {}: IAM never crosses \
             partitions. Contain it with a Tourniquet deployed in {}.",
            principal.partition, responder.partition, principal.partition
        ));
    }
    if principal.same_as(responder) {
        return Some(format!(
            "{principal} is Tourniquet's own identity: containing it would stop the responder. \
             Contain it from another administrator if it is really compromised."
        ));
    }
    if principal.kind == PrincipalKind::Role {
        if name.starts_with("AWSServiceRoleFor")
            || principal
                .path
                .as_deref()
                .is_some_and(|p| p.starts_with("/aws-service-role/"))
        {
            return Some(format!(
                "{principal} is a service-linked role: IAM cannot restrict it or revoke its \
                 sessions. Disable or reconfigure the service that owns it, and open an AWS \
                 Support case if its credentials were stolen."
            ));
        }
        if crate::identity_center::is_identity_center_role(name) {
            return Some(format!(
                "{principal} is an IAM Identity Center role, which IAM cannot edit (Identity \
                 Center overwrites it). Contain the user instead: invoke contain with \
                 {{\"identity_center_user\": \"<their user name>\"}} (the session name after \
                 the colon in CloudTrail's userIdentity.principalId), which denies them in every \
                 permission set assigned to them."
            ));
        }
    }
    if let Some(rule) = guard.protecting(principal) {
        return Some(format!(
            "{principal} is protected by {rule}. If it is compromised, a human must contain it \
             by hand."
        ));
    }
    if principal.kind == PrincipalKind::Role && playbook == Playbook::DeactivateAccessKeys {
        return Some(format!(
            "{principal} is a role: it has no access keys. Use revoke-sessions to deny its \
             stolen sessions."
        ));
    }
    if principal.account_id != responder.account_id && guard.member_role_name.is_none() {
        return Some(other_account(&principal.account_id, &responder.account_id));
    }
    None
}

/// Why a principal of another account cannot be contained without `MEMBER_ROLE_NAME`.
pub fn other_account(account: &str, own: &str) -> String {
    format!(
        "the principal is in account {account}, but this responder runs in account {own} and has \
         no MEMBER_ROLE_NAME to assume there. Deploy member-role.yaml in {account} and set \
         MEMBER_ROLE_NAME, or contain it from that account."
    )
}

/// Whether a key id is temporary (`ASIA…`, from STS), which IAM cannot deactivate.
pub fn is_temporary_key(id: &str) -> bool {
    id.starts_with("ASIA")
}

/// The containment-critical steps, which need no prior read: the deny, the session revocation,
/// and the long-term keys the event names.
pub fn critical_steps(
    principal: &Principal,
    named_keys: &[String],
    playbook: Playbook,
    options: Options,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let user = principal.kind == PrincipalKind::User;
    if user || options.role_deny_all || playbook == Playbook::AttachDenyAll {
        steps.push(Step::new(Action::AttachDenyAll, DENY_POLICY_NAME, true));
    }
    steps.push(Step::new(Action::RevokeSessions, REVOKE_POLICY_NAME, true));
    for key in named_keys {
        let mut step = Step::new(Action::DeactivateAccessKey, key.as_str(), true);
        if is_temporary_key(key) {
            step.blocked = Some(format!(
                "{key} is a temporary (STS) credential, which cannot be deactivated; \
                 revoke_sessions denies it instead"
            ));
        }
        steps.push(step);
    }
    steps.retain(|s| playbook.runs(s.action));
    steps
}

/// The steps that follow from what was read: every other active key, and the incident tags.
///
/// The tags are written after the critical steps, never in the same wave, so the first wave of a
/// later run reads them as they were before it: they carry the incident's first containment time
/// and its session cutoff, which a replay keeps.
pub fn remaining_steps(
    critical: &[Step],
    state: &PrincipalState,
    run: Run<'_>,
    playbook: Playbook,
) -> Vec<Step> {
    let mut steps = key_steps(critical, &state.access_keys, playbook);
    steps.extend(tag_step(critical, state, run, playbook));
    steps
}

/// The keys the event did not name, from the key listing alone: the responder starts them the
/// moment `ListAccessKeys` answers, without waiting for any other read.
pub fn key_steps(
    critical: &[Step],
    listed: &Result<Vec<KeyState>, Unread>,
    playbook: Playbook,
) -> Vec<Step> {
    let mut steps = Vec::new();
    match listed {
        Ok(keys) => steps.extend(
            keys.iter()
                .filter(|k| !critical.iter().any(|s| s.target == k.id))
                .map(|k| Step::new(Action::DeactivateAccessKey, k.id.as_str(), false)),
        ),
        Err(why) => steps.push(Step {
            blocked: Some(format!("the access keys could not be listed: {why}")),
            ..Step::new(Action::DeactivateAccessKey, "(unlisted keys)", false)
        }),
    }
    steps.retain(|s| playbook.runs(s.action));
    steps
}

/// A user's other credentials, from its first read: one step for each (one already inactive is
/// found in place), and a blocked step for a kind that could not be listed.
pub fn credential_steps(state: &PrincipalState, playbook: Playbook) -> Vec<Step> {
    let mut steps = Vec::new();
    for credentials in &state.credentials {
        let kind = credentials.kind;
        match &credentials.listed {
            Ok(listed) => steps.extend(
                listed
                    .iter()
                    .map(|c| Step::new(Action::DeactivateCredential, kind.target(&c.id), false)),
            ),
            Err(why) => steps.push(Step {
                blocked: Some(format!(
                    "the user's {} could not be listed: {why}; the deny-all stops them, but \
                     check them by hand",
                    kind.plural()
                )),
                ..Step::new(
                    Action::DeactivateCredential,
                    kind.target("(unlisted)"),
                    false,
                )
            }),
        }
    }
    steps.retain(|s| playbook.runs(s.action));
    steps
}

/// The incident tags, from the principal's first read.
pub fn tag_step(
    critical: &[Step],
    state: &PrincipalState,
    run: Run<'_>,
    playbook: Playbook,
) -> Option<Step> {
    let same_incident = state.incident_tag() == Some(run.incident_id);
    let revokes = critical.iter().any(|s| s.action == Action::RevokeSessions);
    let mut tag = Step::new(
        Action::TagPrincipal,
        format!("{INCIDENT_TAG}={}", run.incident_id),
        false,
    );
    tag.tags.push((INCIDENT_TAG.into(), run.incident_id.into()));
    if !same_incident {
        tag.tags.push((CONTAINED_AT_TAG.into(), run.now.into()));
    }
    // `run.cutoff` is the cutoff in force after this run (an earlier one of the incident's, put
    // back, or this run's). The tag only shows it to humans; a planted value is overwritten.
    if revokes && !(same_incident && state.tag(SESSION_CUTOFF_TAG) == Some(run.cutoff)) {
        tag.tags
            .push((SESSION_CUTOFF_TAG.into(), run.cutoff.into()));
    }
    playbook.runs(tag.action).then_some(tag)
}

/// Whether `state` shows the step already done, by whichever route.
pub fn in_place(step: &Step, principal: &Principal, state: &PrincipalState) -> bool {
    match step.action {
        Action::AttachDenyAll => {
            state
                .inline_policy_names
                .as_ref()
                .is_ok_and(|names| names.contains(&step.target))
                || state.has_managed(DENY_POLICY_NAME)
                || state
                    .group_names
                    .as_ref()
                    .is_ok_and(|g| g.iter().any(|g| g == QUARANTINE_GROUP))
        }
        Action::RevokeSessions => {
            state.session_cutoff.as_ref().is_ok_and(Option::is_some)
                || state.has_managed(&managed_revoke_policy_name(principal))
        }
        Action::DeactivateAccessKey => state
            .access_keys
            .as_ref()
            .is_ok_and(|keys| keys.iter().any(|k| k.id == step.target && !k.active)),
        Action::DeactivateCredential => state.credential(&step.target) == Some(false),
        // Only the incident tag left to write, and it is already there.
        Action::TagPrincipal => {
            step.tags.len() == 1 && state.incident_tag() == Some(step.tags[0].1.as_str())
        }
        // A release's steps are judged by the release planner.
        _ => false,
    }
}

/// The outcome of a critical step, which was written in the same wave as `state` was read.
///
/// The read may already see this run's own write, so "already in place" needs more than the read:
/// the incident's own ledger must show an earlier run of it that contained the principal
/// (`contained_before`, from [`crate::ledger::prior_cutoff`]). Tags do not count: a compromised
/// principal may write them, and a step reported `already_in_place` is one a release leaves alone.
pub fn critical_outcome(
    step: &Step,
    principal: &Principal,
    state: &PrincipalState,
    written: bool,
    contained_before: bool,
) -> Outcome {
    if !written {
        Outcome::Failed
    } else if contained_before && in_place(step, principal, state) {
        Outcome::AlreadyInPlace
    } else {
        Outcome::Applied
    }
}

/// The incident's earlier cutoff to put back after this run's first-wave revoke-sessions write.
///
/// The first wave writes the revoke-sessions policy with this run's cutoff before anything is read,
/// so the policy itself cannot tell what it held before. The incident's own ledger can: `earlier` is
/// the cutoff of its latest containment since the principal's last release
/// ([`crate::ledger::prior_cutoff`]), never a tag, which a compromised principal may write. A
/// replay must not move the cutoff, so the earlier one is put back; a new incident, or one whose
/// principal was released since, sets its own. A cutoff earlier than the incident's first run
/// (`first_run`) or later than this run's is no cutoff a containment of it set: it is not written.
pub fn cutoff_to_restore(
    earlier: Option<&str>,
    first_run: Option<DateTime<Utc>>,
    run: Run<'_>,
) -> Option<String> {
    let earlier = earlier.filter(|e| *e != run.cutoff)?;
    let at = DateTime::parse_from_rfc3339(earlier)
        .ok()?
        .with_timezone(&Utc);
    let this = DateTime::parse_from_rfc3339(run.cutoff)
        .ok()?
        .with_timezone(&Utc);
    let first = first_run?.duration_trunc(TimeDelta::seconds(1)).ok()?;
    (first <= at && at <= this).then(|| earlier.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: Run<'static> = Run {
        incident_id: "IR-1",
        now: "2026-11-23T18:00:00.000Z",
        cutoff: "2026-11-23T18:00:00Z",
    };

    fn alice() -> Principal {
        Principal::user("111122223333", "alice").unwrap()
    }

    fn app() -> Principal {
        Principal::role("111122223333", "app-worker").unwrap()
    }

    fn state(keys: &[(&str, bool)], policies: &[&str], tag: Option<&str>) -> PrincipalState {
        PrincipalState {
            access_keys: Ok(keys
                .iter()
                .map(|(id, active)| KeyState {
                    id: id.to_string(),
                    active: *active,
                })
                .collect()),
            credentials: Vec::new(),
            inline_policy_names: Ok(policies.iter().map(|p| p.to_string()).collect()),
            attached_policy_arns: Ok(vec![]),
            group_names: Ok(vec![]),
            tags: Ok(tag
                .map(|t| vec![(INCIDENT_TAG.to_string(), t.to_string())])
                .unwrap_or_default()),
            session_cutoff: Ok(None),
        }
    }

    fn config(protected: &str) -> Guard {
        Guard {
            protected: protected
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| crate::guard::ProtectedPattern::new(p).unwrap())
                .collect(),
            ..Guard::default()
        }
    }

    fn actions(steps: &[Step]) -> Vec<(Action, &str)> {
        steps
            .iter()
            .map(|s| (s.action, s.target.as_str()))
            .collect()
    }

    #[test]
    fn for_a_user_the_deny_sessions_and_named_key_are_critical() {
        let steps = critical_steps(
            &alice(),
            &["AKIAEXAMPLECOMPROM01".into()],
            Playbook::Contain,
            Options::default(),
        );
        assert_eq!(
            actions(&steps),
            [
                (Action::AttachDenyAll, DENY_POLICY_NAME),
                (Action::RevokeSessions, REVOKE_POLICY_NAME),
                (Action::DeactivateAccessKey, "AKIAEXAMPLECOMPROM01")
            ]
        );
        assert!(steps.iter().all(|s| s.critical && s.blocked.is_none()));
    }

    #[test]
    fn a_role_gets_its_sessions_revoked_and_the_deny_only_when_configured() {
        let keys = ["ASIAEXAMPLETEMPKEY01".to_string()];
        let steps = critical_steps(&app(), &keys, Playbook::Contain, Options::default());
        assert_eq!(
            actions(&steps),
            [
                (Action::RevokeSessions, REVOKE_POLICY_NAME),
                (Action::DeactivateAccessKey, "ASIAEXAMPLETEMPKEY01")
            ]
        );
        assert!(steps[1].blocked.as_deref().unwrap().contains("temporary"));
        let opted_in = Options {
            role_deny_all: true,
        };
        let steps = critical_steps(&app(), &[], Playbook::Contain, opted_in);
        assert_eq!(steps[0].action, Action::AttachDenyAll);
    }

    #[test]
    fn one_step_functions_run_their_step_and_the_tag_only() {
        let keys = ["AKIA1111111111111111".to_string()];
        let st = state(
            &[
                ("AKIA1111111111111111", true),
                ("AKIA2222222222222222", true),
            ],
            &[],
            None,
        );
        let plan = |playbook| {
            let critical = critical_steps(&alice(), &keys, playbook, Options::default());
            let rest = remaining_steps(&critical, &st, RUN, playbook);
            critical
                .into_iter()
                .chain(rest)
                .map(|s| s.action)
                .collect::<Vec<_>>()
        };
        use Action::*;
        assert_eq!(plan(Playbook::Snapshot), []);
        assert_eq!(plan(Playbook::AttachDenyAll), [AttachDenyAll, TagPrincipal]);
        assert_eq!(
            plan(Playbook::RevokeSessions),
            [RevokeSessions, TagPrincipal]
        );
        assert_eq!(
            plan(Playbook::DeactivateAccessKeys),
            [DeactivateAccessKey, DeactivateAccessKey, TagPrincipal]
        );
        assert_eq!(
            plan(Playbook::Contain),
            [
                AttachDenyAll,
                RevokeSessions,
                DeactivateAccessKey,
                DeactivateAccessKey,
                TagPrincipal
            ]
        );
        let role_deny = critical_steps(&app(), &[], Playbook::AttachDenyAll, Options::default());
        assert_eq!(role_deny[0].action, AttachDenyAll, "asked for explicitly");
    }

    #[test]
    fn every_other_key_is_deactivated_and_the_user_tagged() {
        let critical = critical_steps(
            &alice(),
            &["AKIA1111111111111111".into()],
            Playbook::Contain,
            Options::default(),
        );
        let st = state(
            &[
                ("AKIA1111111111111111", true),
                ("AKIA2222222222222222", false),
                ("AKIA3333333333333333", true),
            ],
            &[],
            None,
        );
        let rest = remaining_steps(&critical, &st, RUN, Playbook::Contain);
        assert_eq!(
            actions(&rest),
            [
                (Action::DeactivateAccessKey, "AKIA2222222222222222"),
                (Action::DeactivateAccessKey, "AKIA3333333333333333"),
                (Action::TagPrincipal, "tourniquet:incident=IR-1"),
            ]
        );
        assert!(
            in_place(&rest[0], &alice(), &st),
            "an inactive key needs no write"
        );
        assert!(!in_place(&rest[1], &alice(), &st));
    }

    #[test]
    fn every_other_credential_is_a_step_of_its_own_and_an_unlisted_kind_says_so() {
        let key = |id: &str, active| KeyState {
            id: id.into(),
            active,
        };
        let st = PrincipalState {
            credentials: vec![
                CredentialsState {
                    kind: CredentialKind::SshPublicKey,
                    listed: Ok(vec![key("APKAONE", true), key("APKATWO", false)]),
                },
                CredentialsState {
                    kind: CredentialKind::ServiceSpecificCredential,
                    listed: Err("AccessDenied".into()),
                },
            ],
            ..state(&[], &[], None)
        };
        let steps = credential_steps(&st, Playbook::Contain);
        let targets: Vec<&str> = steps.iter().map(|s| s.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "ssh_public_key:APKAONE",
                "ssh_public_key:APKATWO",
                "service_specific_credential:(unlisted)"
            ]
        );
        assert!(!in_place(&steps[0], &alice(), &st));
        assert!(in_place(&steps[1], &alice(), &st), "inactive already");
        assert!(
            steps[2]
                .blocked
                .as_deref()
                .unwrap()
                .contains("AccessDenied")
        );
        assert_eq!(
            CredentialKind::parse_target("signing_certificate:ABC"),
            Some((CredentialKind::SigningCertificate, "ABC"))
        );
        assert_eq!(CredentialKind::parse_target("policy:ABC"), None);
        // Only contain (and the hunt) touches them: the one-step functions keep to their step.
        assert!(credential_steps(&st, Playbook::DeactivateAccessKeys).is_empty());
        assert!(credential_steps(&st, Playbook::Snapshot).is_empty());
    }

    #[test]
    fn unlisted_keys_block_the_step_instead_of_skipping_silently() {
        let st = PrincipalState {
            access_keys: Err("AccessDenied".into()),
            ..state(&[], &[], None)
        };
        let rest = remaining_steps(&[], &st, RUN, Playbook::Contain);
        assert!(rest[0].blocked.as_deref().unwrap().contains("AccessDenied"));
    }

    #[test]
    fn a_first_run_reports_applied_even_if_its_own_write_raced_the_read() {
        let step = &critical_steps(&alice(), &[], Playbook::Contain, Options::default())[0];
        let seen_after_write = state(&[], &[DENY_POLICY_NAME], None);
        assert_eq!(
            critical_outcome(step, &alice(), &seen_after_write, true, false),
            Outcome::Applied
        );
        // Tags planted by the principal itself do not make it a replay: only the ledger does.
        let planted = state(&[], &[DENY_POLICY_NAME], Some("IR-1"));
        assert_eq!(
            critical_outcome(step, &alice(), &planted, true, false),
            Outcome::Applied
        );
    }

    #[test]
    fn a_replay_reports_already_in_place_by_any_route() {
        let steps = critical_steps(
            &alice(),
            &["AKIA1111111111111111".into()],
            Playbook::Contain,
            Options::default(),
        );
        let mut contained = state(
            &[("AKIA1111111111111111", false)],
            &[DENY_POLICY_NAME],
            Some("IR-1"),
        );
        contained.session_cutoff = Ok(Some("2026-11-23T17:00:00Z".into()));
        for step in &steps {
            assert_eq!(
                critical_outcome(step, &alice(), &contained, true, true),
                Outcome::AlreadyInPlace
            );
        }
        let by_group = PrincipalState {
            inline_policy_names: Ok(vec![]),
            group_names: Ok(vec![QUARANTINE_GROUP.into()]),
            ..contained.clone()
        };
        assert!(in_place(&steps[0], &alice(), &by_group));
        let by_managed = PrincipalState {
            inline_policy_names: Ok(vec![]),
            attached_policy_arns: Ok(vec![format!(
                "arn:aws:iam::111122223333:policy{MANAGED_PATH}{DENY_POLICY_NAME}"
            )]),
            ..contained
        };
        assert!(in_place(&steps[0], &alice(), &by_managed));
    }

    #[test]
    fn a_failed_write_is_failed_whatever_was_read() {
        let step = &critical_steps(&alice(), &[], Playbook::Contain, Options::default())[0];
        let contained = state(&[], &[DENY_POLICY_NAME], Some("IR-1"));
        assert_eq!(
            critical_outcome(step, &alice(), &contained, false, true),
            Outcome::Failed
        );
    }

    #[test]
    fn only_the_exact_names_tourniquet_creates_are_its_own() {
        let p = alice();
        assert!(is_own_inline_policy(DENY_POLICY_NAME) && is_own_inline_policy(REVOKE_POLICY_NAME));
        for look_alike in [
            "TourniquetBackdoor",
            "tourniquetdenyall",
            "TourniquetDenyAll2",
        ] {
            assert!(!is_own_inline_policy(look_alike), "{look_alike}");
        }
        let ours = format!("arn:aws:iam::111122223333:policy{MANAGED_PATH}{DENY_POLICY_NAME}");
        assert!(is_own_managed_policy(&ours, &p));
        let revoke = format!(
            "arn:aws:iam::111122223333:policy{MANAGED_PATH}{}",
            managed_revoke_policy_name(&p)
        );
        assert!(is_own_managed_policy(&revoke, &p));
        for other in [
            "arn:aws:iam::111122223333:policy/tourniquet/Backdoor",
            "arn:aws:iam::444455556666:policy/tourniquet/TourniquetDenyAll",
            "arn:aws:iam::111122223333:policy/TourniquetDenyAll",
        ] {
            assert!(!is_own_managed_policy(other, &p), "{other}");
        }
        assert!(is_own_group(
            "arn:aws:iam::111122223333:group/tourniquet/TourniquetQuarantine"
        ));
        assert!(!is_own_group(
            "arn:aws:iam::111122223333:group/TourniquetQuarantine"
        ));
    }

    #[test]
    fn the_cutoff_rounds_up_to_the_next_second_in_utc() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            session_cutoff(at("2026-11-23T17:47:39.555Z")),
            "2026-11-23T17:47:40Z"
        );
        assert_eq!(
            session_cutoff(at("2026-11-23T18:47:39+01:00")),
            "2026-11-23T17:47:39Z"
        );
        let doc: serde_json::Value =
            serde_json::from_str(&revoke_sessions_document("2026-11-23T17:47:40Z")).unwrap();
        assert_eq!(cutoff_of(&doc).as_deref(), Some("2026-11-23T17:47:40Z"));
    }

    fn tagged(tags: &[(&str, &str)]) -> PrincipalState {
        PrincipalState {
            tags: Ok(tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()),
            ..state(&[], &[], None)
        }
    }

    #[test]
    fn a_replay_restores_the_incidents_cutoff_from_its_ledger_within_its_runs() {
        let first_run = DateTime::parse_from_rfc3339("2026-11-23T16:59:59.400Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(cutoff_to_restore(None, None, RUN), None, "first run");
        assert_eq!(
            cutoff_to_restore(Some("2026-11-23T17:00:00Z"), Some(first_run), RUN).as_deref(),
            Some("2026-11-23T17:00:00Z")
        );
        assert_eq!(
            cutoff_to_restore(Some(RUN.cutoff), Some(first_run), RUN),
            None,
            "already this run's"
        );
        // A cutoff from before the incident's first run, or after this run, was never set by a
        // containment of it: a forged ledger cannot keep older sessions alive.
        for forged in [
            "2020-01-01T00:00:00Z",
            "2026-11-23T16:59:58Z",
            "2026-11-23T18:00:01Z",
            "soon",
        ] {
            assert_eq!(
                cutoff_to_restore(Some(forged), Some(first_run), RUN),
                None,
                "{forged}"
            );
        }
    }

    #[test]
    fn the_tags_keep_the_first_containment_time_and_show_the_cutoff_in_force() {
        let tags_of = |state: &PrincipalState| {
            let critical = critical_steps(&alice(), &[], Playbook::Contain, Options::default());
            let rest = remaining_steps(&critical, state, RUN, Playbook::Contain);
            let tag = rest.last().unwrap().clone();
            (in_place(&tag, &alice(), state), tag.tags)
        };
        let (done, tags) = tags_of(&tagged(&[]));
        assert!(!done);
        assert_eq!(
            tags.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            [INCIDENT_TAG, CONTAINED_AT_TAG, SESSION_CUTOFF_TAG]
        );
        let replay = tagged(&[
            (INCIDENT_TAG, "IR-1"),
            (CONTAINED_AT_TAG, "x"),
            (SESSION_CUTOFF_TAG, RUN.cutoff),
        ]);
        let (done, tags) = tags_of(&replay);
        assert!(done, "nothing new to write: {tags:?}");
        // A planted cutoff tag is overwritten with the cutoff in force: tags only inform.
        let planted = tagged(&[
            (INCIDENT_TAG, "IR-1"),
            (CONTAINED_AT_TAG, "x"),
            (SESSION_CUTOFF_TAG, "2020-01-01T00:00:00Z"),
        ]);
        let (done, tags) = tags_of(&planted);
        assert!(!done);
        assert_eq!(
            tags.last().unwrap(),
            &(SESSION_CUTOFF_TAG.to_string(), RUN.cutoff.to_string())
        );
        let other = tagged(&[(INCIDENT_TAG, "IR-0"), (SESSION_CUTOFF_TAG, "y")]);
        assert_eq!(tags_of(&other).1.len(), 3, "a new incident writes its own");
    }

    #[test]
    fn a_principal_of_another_partition_is_refused_and_ones_own_is_not() {
        let me =
            Principal::parse_arn("arn:aws-us-gov:sts::111122223333:assumed-role/tq/x").unwrap();
        let c = config("");
        let gov = Principal::user("111122223333", "alice")
            .unwrap()
            .in_partition("aws-us-gov")
            .unwrap();
        assert_eq!(refusal(&gov, &me, &c, Playbook::Contain), None);
        let commercial = Principal::parse_arn("arn:aws:iam::111122223333:user/alice").unwrap();
        let why = refusal(&commercial, &me, &c, Playbook::Contain).unwrap();
        assert!(
            why.contains("partition aws") && why.contains("aws-us-gov"),
            "{why}"
        );
        assert!(
            Principal::user("111122223333", "a")
                .unwrap()
                .in_partition("aws-xx")
                .is_err()
        );
        // Tourniquet's own managed policies are named in the principal's partition.
        assert!(managed_policy_arn(&gov, DENY_POLICY_NAME).starts_with("arn:aws-us-gov:iam::"));
    }

    #[test]
    fn root_responder_protected_and_uncontainable_roles_are_refused_with_advice() {
        let me =
            Principal::parse_arn("arn:aws:sts::111122223333:assumed-role/tourniquet-contain/x")
                .unwrap();
        let c = config("arn:aws:iam::*:user/breakglass-*");
        let cases = [
            ("arn:aws:iam::111122223333:root", "rotate"),
            (
                "arn:aws:iam::111122223333:role/tourniquet-contain",
                "own identity",
            ),
            (
                "arn:aws:iam::111122223333:user/breakglass-alice",
                "protected pattern",
            ),
            (
                "arn:aws:iam::111122223333:role/aws-service-role/support.amazonaws.com/AWSServiceRoleForSupport",
                "service-linked",
            ),
            (
                "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123456789abcdef",
                "Identity Center",
            ),
            (
                "arn:aws:iam::444455556666:user/alice",
                "account 444455556666",
            ),
        ];
        for (arn, says) in cases {
            let p = Principal::parse_arn(arn).unwrap();
            let why = refusal(&p, &me, &c, Playbook::Contain).unwrap_or_default();
            assert!(why.contains(says), "{arn}: {why}");
        }
        assert_eq!(refusal(&alice(), &me, &c, Playbook::Contain), None);
        assert_eq!(refusal(&app(), &me, &c, Playbook::Contain), None);
        let no_keys = refusal(&app(), &me, &c, Playbook::DeactivateAccessKeys).unwrap();
        assert!(no_keys.contains("no access keys"), "{no_keys}");
    }
}
