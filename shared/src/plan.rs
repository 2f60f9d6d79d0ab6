//! The planner: pure functions that decide, from an incident and what IAM said, which steps to take,
//! which are already in place, and which principals must not be touched.

use crate::config::Config;
use crate::principal::{Principal, PrincipalKind};
use crate::report::Outcome;
use serde::Serialize;

/// The inline deny-all policy Tourniquet puts on a principal. Deterministic, so a replay finds it.
pub const DENY_POLICY_NAME: &str = "TourniquetDenyAll";
/// Tag key carrying the incident id of the containment.
pub const INCIDENT_TAG: &str = "tourniquet:incident";
/// Tag key carrying when the containment was tagged (UTC, RFC 3339).
pub const CONTAINED_AT_TAG: &str = "tourniquet:contained-at";

/// Whether an inline policy is one of Tourniquet's own, which the snapshot leaves out.
pub fn is_responder_policy(name: &str) -> bool {
    name.starts_with("Tourniquet")
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

/// What a step does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Put the inline deny-all policy on the principal.
    AttachDenyAll,
    /// Set an access key to Inactive (never delete it: it is evidence).
    DeactivateAccessKey,
    /// Tag the principal with the incident id.
    TagPrincipal,
}

impl Action {
    /// The name used in reports and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::AttachDenyAll => "attach_deny_all",
            Action::DeactivateAccessKey => "deactivate_access_key",
            Action::TagPrincipal => "tag_principal",
        }
    }
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
    /// Set when the step cannot be attempted (what it needs could not be read): the reason.
    pub blocked: Option<String>,
}

impl Step {
    fn new(action: Action, target: impl Into<String>, critical: bool) -> Self {
        Self {
            action,
            target: target.into(),
            critical,
            blocked: None,
        }
    }
}

/// An access key and whether it is active.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyState {
    /// The key id.
    pub id: String,
    /// `Active` (true) or `Inactive`.
    pub active: bool,
}

/// What the planner needs to know of a user, as read before any change of this run.
/// Each part is `Err` with the reason when IAM would not tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserState {
    /// The user's access keys.
    pub access_keys: Result<Vec<KeyState>, String>,
    /// Names of the user's inline policies, Tourniquet's own included.
    pub inline_policy_names: Result<Vec<String>, String>,
    /// The user's tags.
    pub tags: Result<Vec<(String, String)>, String>,
}

impl UserState {
    /// The incident id a previous containment tagged the user with, if any.
    pub fn incident_tag(&self) -> Option<&str> {
        self.tags
            .as_ref()
            .ok()?
            .iter()
            .find_map(|(k, v)| (k == INCIDENT_TAG).then_some(v.as_str()))
    }
}

/// Why a principal must not be contained, and what a human must do instead.
pub fn refusal(principal: &Principal, responder: &Principal, config: &Config) -> Option<String> {
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
    if principal.same_as(responder) {
        return Some(format!(
            "{principal} is Tourniquet's own identity: containing it would stop the responder. \
             Contain it from another administrator if it is really compromised."
        ));
    }
    if let Some(pattern) = config.protecting(principal) {
        return Some(format!(
            "{principal} matches the protected pattern `{}` (PROTECTED_PRINCIPALS). \
             If it is compromised, a human must contain it by hand.",
            pattern.as_str()
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
                "{principal} is a service-linked role: IAM cannot restrict or revoke its sessions. \
                 Disable the service that owns it, or open an AWS Support case."
            ));
        }
        if name.starts_with("AWSReservedSSO_") {
            return Some(format!(
                "{principal} is an IAM Identity Center role, which IAM cannot edit. Revoke the \
                 user's sessions and permission set assignment in IAM Identity Center."
            ));
        }
        return Some(format!(
            "{principal} is a role: this version contains IAM users only. Revoke its sessions in \
             the IAM console (Roles > {name} > Revoke active sessions)."
        ));
    }
    if principal.account_id != responder.account_id {
        return Some(format!(
            "{principal} is in account {}, but this responder runs in account {} and cannot act \
             there. Contain it from that account.",
            principal.account_id, responder.account_id
        ));
    }
    None
}

/// The containment-critical steps, which need no prior read: the deny, and the keys the event names.
pub fn critical_steps(named_keys: &[String]) -> Vec<Step> {
    std::iter::once(Step::new(Action::AttachDenyAll, DENY_POLICY_NAME, true))
        .chain(
            named_keys
                .iter()
                .map(|k| Step::new(Action::DeactivateAccessKey, k.as_str(), true)),
        )
        .collect()
}

/// The steps that follow from what was read: every other active key, and the incident tag.
pub fn remaining_steps(critical: &[Step], state: &UserState, incident_id: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    match &state.access_keys {
        Ok(keys) => steps.extend(
            keys.iter()
                .filter(|k| !critical.iter().any(|s| s.target == k.id))
                .map(|k| Step::new(Action::DeactivateAccessKey, k.id.as_str(), false)),
        ),
        Err(why) => steps.push(Step {
            blocked: Some(format!("the user's access keys could not be listed: {why}")),
            ..Step::new(Action::DeactivateAccessKey, "(unlisted keys)", false)
        }),
    }
    steps.push(Step::new(
        Action::TagPrincipal,
        format!("{INCIDENT_TAG}={incident_id}"),
        false,
    ));
    steps
}

/// Whether `state` shows the step already done.
pub fn in_place(step: &Step, state: &UserState) -> bool {
    match step.action {
        Action::AttachDenyAll => state
            .inline_policy_names
            .as_ref()
            .is_ok_and(|names| names.contains(&step.target)),
        Action::DeactivateAccessKey => state
            .access_keys
            .as_ref()
            .is_ok_and(|keys| keys.iter().any(|k| k.id == step.target && !k.active)),
        Action::TagPrincipal => step
            .target
            .split_once('=')
            .is_some_and(|(_, id)| state.incident_tag() == Some(id)),
    }
}

/// The outcome of a critical step, which was written in the same wave as `state` was read.
///
/// The read may already see this run's own write, so "already in place" needs more than the read:
/// the user must also have carried an incident tag before this run. Tourniquet tags only after its
/// critical writes, so a tagged user whose deny and key look in place was contained before.
pub fn critical_outcome(step: &Step, state: &UserState, write: &Result<(), String>) -> Outcome {
    match write {
        Err(_) => Outcome::Failed,
        Ok(()) if in_place(step, state) && state.incident_tag().is_some() => {
            Outcome::AlreadyInPlace
        }
        Ok(()) => Outcome::Applied,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(keys: &[(&str, bool)], policies: &[&str], tag: Option<&str>) -> UserState {
        UserState {
            access_keys: Ok(keys
                .iter()
                .map(|(id, active)| KeyState {
                    id: id.to_string(),
                    active: *active,
                })
                .collect()),
            inline_policy_names: Ok(policies.iter().map(|p| p.to_string()).collect()),
            tags: Ok(tag
                .map(|t| vec![(INCIDENT_TAG.to_string(), t.to_string())])
                .unwrap_or_default()),
        }
    }

    fn config(protected: &str) -> Config {
        Config::from_lookup(|n| match n {
            "EVIDENCE_BUCKET" => Some("evidence".into()),
            "PROTECTED_PRINCIPALS" => Some(protected.into()),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn the_deny_and_the_named_key_are_critical_and_first() {
        let steps = critical_steps(&["AKIAEXAMPLECOMPROM01".into()]);
        assert_eq!(
            steps
                .iter()
                .map(|s| (s.action, s.target.as_str(), s.critical))
                .collect::<Vec<_>>(),
            [
                (Action::AttachDenyAll, DENY_POLICY_NAME, true),
                (Action::DeactivateAccessKey, "AKIAEXAMPLECOMPROM01", true)
            ]
        );
    }

    #[test]
    fn every_other_key_is_deactivated_and_the_user_tagged() {
        let critical = critical_steps(&["AKIA1111111111111111".into()]);
        let st = state(
            &[
                ("AKIA1111111111111111", true),
                ("AKIA2222222222222222", false),
                ("AKIA3333333333333333", true),
            ],
            &[],
            None,
        );
        let rest = remaining_steps(&critical, &st, "IR-1");
        let targets: Vec<_> = rest.iter().map(|s| (s.action, s.target.as_str())).collect();
        assert_eq!(
            targets,
            [
                (Action::DeactivateAccessKey, "AKIA2222222222222222"),
                (Action::DeactivateAccessKey, "AKIA3333333333333333"),
                (Action::TagPrincipal, "tourniquet:incident=IR-1"),
            ]
        );
        assert!(in_place(&rest[0], &st), "an inactive key needs no write");
        assert!(!in_place(&rest[1], &st));
    }

    #[test]
    fn unlisted_keys_block_the_step_instead_of_skipping_silently() {
        let st = UserState {
            access_keys: Err("AccessDenied".into()),
            ..state(&[], &[], None)
        };
        let rest = remaining_steps(&critical_steps(&[]), &st, "IR-1");
        assert!(rest[0].blocked.as_deref().unwrap().contains("AccessDenied"));
    }

    #[test]
    fn a_first_run_reports_applied_even_if_its_own_write_raced_the_read() {
        let step = &critical_steps(&[])[0];
        let seen_after_write = state(&[], &[DENY_POLICY_NAME], None);
        assert_eq!(
            critical_outcome(step, &seen_after_write, &Ok(())),
            Outcome::Applied
        );
    }

    #[test]
    fn a_replay_reports_already_in_place() {
        let steps = critical_steps(&["AKIA1111111111111111".into()]);
        let contained = state(
            &[("AKIA1111111111111111", false)],
            &[DENY_POLICY_NAME],
            Some("IR-1"),
        );
        for step in &steps {
            assert_eq!(
                critical_outcome(step, &contained, &Ok(())),
                Outcome::AlreadyInPlace
            );
        }
        assert!(in_place(
            &remaining_steps(&steps, &contained, "IR-1")[0],
            &contained
        ));
    }

    #[test]
    fn a_failed_write_is_failed_whatever_was_read() {
        let step = &critical_steps(&[])[0];
        let contained = state(&[], &[DENY_POLICY_NAME], Some("IR-1"));
        assert_eq!(
            critical_outcome(step, &contained, &Err("Throttling".into())),
            Outcome::Failed
        );
    }

    #[test]
    fn root_responder_protected_and_service_roles_are_refused_with_advice() {
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
                "arn:aws:iam::111122223333:role/aws-service-role/AWSServiceRoleForSupport",
                "service-linked",
            ),
            (
                "arn:aws:iam::111122223333:role/AWSReservedSSO_Admin_0123456789abcdef",
                "Identity Center",
            ),
            (
                "arn:aws:iam::444455556666:user/alice",
                "account 444455556666",
            ),
        ];
        for (arn, says) in cases {
            let p = Principal::parse_arn(arn).unwrap();
            let why = refusal(&p, &me, &c).unwrap_or_default();
            assert!(why.contains(says), "{arn}: {why}");
        }
        let alice = Principal::parse_arn("arn:aws:iam::111122223333:user/alice").unwrap();
        assert_eq!(refusal(&alice, &me, &c), None);
    }
}
