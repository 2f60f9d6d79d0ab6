//! Release: the pure half of undoing a containment. From the incident's ledger (the reports it
//! stored) and the principal's state now, decide what to undo, what is already undone, what must
//! stay, and what changed by hand since (drift), which stops the release unless forced.
//!
//! The ledger is read by its typed fields only (action, route, policy, group, named key), never
//! from a step's `detail`. A release removes only what Tourniquet itself creates, by its exact
//! names: a ledger entry naming anything else is not Tourniquet's record, and the release refuses.

use crate::error::Unread;
use crate::plan::{self, Action, CredentialKind, PrincipalState, Route};
use crate::principal::Principal;
use crate::report::{Outcome, Report, StepReport};
use serde::Serialize;

/// A containment step this incident applied to the principal, as its ledger records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// `attach_deny_all`, `revoke_sessions`, `deactivate_access_key`, `tag_principal`.
    pub action: Action,
    /// The policy, key or tag.
    pub target: String,
    /// For policies: `inline`, `managed`, `quarantine_group`.
    pub route: Option<Route>,
    /// For policies: the inline policy's name or the managed policy's ARN.
    pub policy: Option<String>,
    /// For the quarantine route: the group.
    pub group: Option<String>,
    /// Whether the event named the key as compromised.
    pub named_in_event: bool,
}

impl Applied {
    fn from_step(step: &StepReport) -> Self {
        Self {
            action: step.action,
            target: step.target.clone(),
            route: step.route,
            policy: step.policy.clone(),
            group: step.group.clone(),
            named_in_event: step.named_in_event,
        }
    }
}

/// What the incident's reports say was done to `principal`, oldest run first.
pub fn ledger(reports: &[Report], principal: &Principal) -> Vec<Applied> {
    let mut applied: Vec<Applied> = Vec::new();
    for report in reports {
        for target in &report.targets {
            let same =
                Principal::parse_arn(&target.principal_arn).is_ok_and(|p| p.same_as(principal));
            if !same {
                continue;
            }
            for step in target
                .steps
                .iter()
                .filter(|s| s.outcome == Outcome::Applied && s.action.is_containment())
            {
                let entry = Applied::from_step(step);
                if !applied.contains(&entry) {
                    applied.push(entry);
                }
            }
        }
    }
    applied
}

/// What a run that died before its report intended for `principal`, as far as it can have
/// happened: the planner then undoes only what it finds in place. The deny's route is the one the
/// principal shows now (inline, managed, or the quarantine group); keys are the named ones, or
/// every key of the user when the run would have deactivated them all.
pub fn intended(
    intent: &crate::ledger::Intent,
    principal: &Principal,
    state: &PrincipalState,
) -> Vec<Applied> {
    let keys_now: Vec<&str> = state
        .access_keys
        .as_ref()
        .map(|keys| keys.iter().map(|k| k.id.as_str()).collect())
        .unwrap_or_default();
    let mut applied = Vec::new();
    for target in &intent.targets {
        let ours = match &target.principal_arn {
            Some(arn) => Principal::parse_arn(arn).is_ok_and(|p| p.same_as(principal)),
            None => target
                .access_key_ids
                .iter()
                .any(|k| keys_now.contains(&k.as_str())),
        };
        if !ours {
            continue;
        }
        let entry = |action, target: &str, route| Applied {
            action,
            target: target.to_owned(),
            route,
            policy: None,
            group: None,
            named_in_event: false,
        };
        for action in &target.actions {
            match action {
                Action::AttachDenyAll => applied.push(entry(
                    *action,
                    plan::DENY_POLICY_NAME,
                    Some(deny_route(principal, state)),
                )),
                Action::RevokeSessions => applied.push(entry(
                    *action,
                    plan::REVOKE_POLICY_NAME,
                    Some(Route::Inline),
                )),
                Action::DeactivateAccessKey => {
                    let keys: Vec<&str> = if target.every_key {
                        keys_now.clone()
                    } else {
                        target.access_key_ids.iter().map(String::as_str).collect()
                    };
                    for key in keys.into_iter().filter(|k| keys_now.contains(k)) {
                        let mut key_entry = entry(*action, key, None);
                        key_entry.named_in_event = target.access_key_ids.iter().any(|n| n == key);
                        applied.push(key_entry);
                    }
                }
                Action::TagPrincipal => applied.push(entry(
                    *action,
                    &format!("{}={}", plan::INCIDENT_TAG, intent.incident_id),
                    None,
                )),
                // A containment deactivates every listed credential: those of the user now.
                Action::DeactivateCredential => {
                    for credentials in &state.credentials {
                        for c in credentials.listed.iter().flatten() {
                            applied.push(entry(*action, &credentials.kind.target(&c.id), None));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    applied
}

/// The route the deny-all takes on `principal` now: managed or the quarantine group when it
/// shows Tourniquet's policy or group, else inline (a list that could not be read shows neither).
fn deny_route(principal: &Principal, state: &PrincipalState) -> Route {
    let has = |found: &Result<Vec<String>, Unread>, what: &dyn Fn(&str) -> bool| {
        found.as_ref().is_ok_and(|v| v.iter().any(|x| what(x)))
    };
    if has(&state.attached_policy_arns, &|a| {
        plan::is_own_managed_policy(a, principal)
    }) {
        Route::Managed
    } else if has(&state.group_names, &|g| g == plan::QUARANTINE_GROUP) {
        Route::QuarantineGroup
    } else {
        Route::Inline
    }
}

/// Adds `more` to a ledger, each change once (by action, target and route).
pub fn merge(ledger: &mut Vec<Applied>, more: Vec<Applied>) {
    for entry in more {
        let known = ledger.iter().any(|a| {
            a.action == entry.action && a.target == entry.target && a.route == entry.route
        });
        if !known {
            ledger.push(entry);
        }
    }
}

/// Why a ledger entry is not a record Tourniquet could have written: it names a policy or group
/// that is not one Tourniquet creates. `None` for a genuine entry.
pub fn not_ours(applied: &Applied, principal: &Principal) -> Option<String> {
    let deny = plan::DENY_POLICY_NAME;
    let arn = plan::managed_policy_arn(principal, deny);
    let (what, ours) = match (applied.action, applied.route) {
        (Action::AttachDenyAll, None | Some(Route::Inline)) => (
            applied.policy.as_deref().unwrap_or(&applied.target),
            applied.target == deny && applied.policy.as_deref().is_none_or(|p| p == deny),
        ),
        (Action::AttachDenyAll, Some(Route::Managed)) => {
            let policy = applied.policy.as_deref().unwrap_or(&arn);
            let recorded = plan::is_recorded_policy_of(policy, &arn);
            (policy, applied.target == deny && recorded)
        }
        (Action::AttachDenyAll, Some(Route::QuarantineGroup)) => {
            let group = applied.group.as_deref().unwrap_or(plan::QUARANTINE_GROUP);
            (
                group,
                applied.target == deny && group == plan::QUARANTINE_GROUP,
            )
        }
        _ => return None,
    };
    (!ours).then(|| {
        format!(
            "the ledger says this incident put `{what}` on the principal by the {} route, but \
             Tourniquet creates only {deny} (inline or under {}) and the group {}: the ledger is \
             not Tourniquet's record, so nothing is released",
            applied.route.unwrap_or(Route::Inline).as_str(),
            plan::MANAGED_PATH,
            plan::QUARANTINE_GROUP
        )
    })
}

/// What the release request asks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// Keys this incident deactivated that the responder wants back (rotated, or a false
    /// positive). Every other key stays inactive.
    pub reactivate_access_keys: Vec<String>,
    /// Other credentials this incident deactivated to set Active again, by id.
    pub reactivate_credentials: Vec<String>,
    /// Release despite drift, undoing only what still matches the ledger.
    pub force: bool,
}

/// One undo, or one thing that stays, with why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Undo {
    /// `remove_deny_all`, `reactivate_access_key`, `untag_principal`, `tag_released`, or one of
    /// the keeps (`keep_session_cutoff`, `keep_access_key_inactive`, `keep_aws_quarantine`,
    /// `keep_deny_all`).
    pub action: Action,
    /// The policy, key, group or tags.
    pub target: String,
    /// How the deny was put in place, for `remove_deny_all`.
    pub route: Option<Route>,
    /// The managed deny to detach when the containment made its own beside a look-alike of its
    /// name (the ledger's, checked: [`plan::is_recorded_policy_of`]); `None`: the named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Already as the release wants it: nothing to write.
    pub done: bool,
    /// Nothing to write by design (the residue), with why in `why`.
    pub keep: bool,
    /// A read the undo depends on failed: it is not attempted, and the release is `partial`.
    pub unreadable: Option<String>,
    /// Why, in words.
    pub why: String,
}

impl Undo {
    fn new(action: Action, target: impl Into<String>, done: bool, why: impl Into<String>) -> Self {
        Self {
            action,
            target: target.into(),
            route: None,
            policy: None,
            done,
            keep: false,
            unreadable: None,
            why: why.into(),
        }
    }

    fn keep(action: Action, target: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            keep: true,
            ..Self::new(action, target, true, why)
        }
    }

    fn unreadable(action: Action, target: impl Into<String>, why: String) -> Self {
        Self {
            unreadable: Some(why),
            ..Self::new(action, target, false, "")
        }
    }
}

/// The release plan: the undos in reverse order of the containment, and the drift found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReleasePlan {
    /// What to undo or keep.
    pub undos: Vec<Undo>,
    /// What changed by hand since the containment, each in words.
    pub drift: Vec<String>,
    /// Ledger entries Tourniquet could not have written: the release refuses, even when forced.
    pub untrusted: Vec<String>,
}

/// What IAM says now, beyond [`PrincipalState`]: the deny's document where it is inline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Now<'a> {
    /// The lists.
    pub state: &'a PrincipalState,
    /// The inline deny's document as IAM returns it, decoded; `Ok(None)` when there is none,
    /// `Err` when IAM would not say.
    pub deny_document: Result<Option<serde_json::Value>, Unread>,
}

/// Decides the release of `incident_id` from its ledger and the principal's state now.
pub fn plan_release(
    incident_id: &str,
    principal: &Principal,
    ledger: &[Applied],
    now: &Now<'_>,
    request: &Request,
) -> ReleasePlan {
    let state = now.state;
    let mut plan = ReleasePlan {
        untrusted: ledger
            .iter()
            .filter_map(|a| not_ours(a, principal))
            .collect(),
        ..ReleasePlan::default()
    };
    if let Some(other) = state.incident_tag().filter(|t| *t != incident_id) {
        plan.drift.push(format!(
            "the principal is now under incident {other}: releasing {incident_id} would lift that \
             containment too"
        ));
    }
    for applied in ledger.iter().rev() {
        match applied.action {
            Action::TagPrincipal => plan.undos.push(undo_tags(incident_id, state)),
            Action::DeactivateAccessKey => {
                plan.undos
                    .push(undo_key(applied, state, request, &mut plan.drift))
            }
            Action::DeactivateCredential => {
                plan.undos
                    .push(undo_credential(applied, state, request, &mut plan.drift))
            }
            Action::AttachDenyAll => plan.undos.push(undo_deny(applied, now, &mut plan.drift)),
            Action::RevokeSessions => plan.undos.push(Undo::keep(
                Action::KeepSessionCutoff,
                applied.target.clone(),
                "sessions issued before the containment stay denied: stolen session credentials \
                 must never work again",
            )),
            _ => {}
        }
    }
    plan.undos.extend(not_this_incidents(ledger, request));
    let released = state.tag(plan::RELEASED_TAG) == Some(incident_id);
    plan.undos.push(Undo::new(
        Action::TagReleased,
        format!("{}={incident_id}", plan::RELEASED_TAG),
        released,
        "records the release on the principal",
    ));
    if let Ok(arns) = &state.attached_policy_arns {
        for arn in arns
            .iter()
            .filter(|a| a.contains(":policy/AWSCompromisedKeyQuarantine"))
        {
            plan.undos.push(Undo::keep(
                Action::KeepAwsQuarantine,
                arn.clone(),
                "AWS attached this quarantine policy itself; detach it by hand once the key is rotated",
            ));
        }
    }
    plan
}

/// The keys and credentials the request asks to reactivate that this incident did not
/// deactivate: each stays as it is, with why, so a release can never turn on what someone else
/// turned off.
fn not_this_incidents(ledger: &[Applied], request: &Request) -> Vec<Undo> {
    let mut kept = Vec::new();
    for key in &request.reactivate_access_keys {
        if !ledger
            .iter()
            .any(|a| a.action == Action::DeactivateAccessKey && &a.target == key)
        {
            kept.push(Undo::keep(
                Action::KeepAccessKeyInactive,
                key.clone(),
                "this incident did not deactivate it, so the release does not touch it",
            ));
        }
    }
    for id in &request.reactivate_credentials {
        let ours = ledger.iter().any(|a| {
            a.action == Action::DeactivateCredential
                && CredentialKind::parse_target(&a.target).is_some_and(|(_, i)| i == id)
        });
        if !ours {
            kept.push(Undo::keep(
                Action::KeepCredentialInactive,
                id.clone(),
                "this incident did not deactivate it, so the release does not touch it",
            ));
        }
    }
    kept
}

fn undo_tags(incident_id: &str, state: &PrincipalState) -> Undo {
    let target = format!("{},{}", plan::INCIDENT_TAG, plan::CONTAINED_AT_TAG);
    if let Err(e) = &state.tags {
        return Undo::unreadable(
            Action::UntagPrincipal,
            target,
            format!("could not read the tags: {e}"),
        );
    }
    let tagged = state.incident_tag() == Some(incident_id);
    let why = if tagged {
        "the incident tags come off; tourniquet:released-* tags record the release"
    } else {
        "the incident tags are already off"
    };
    Undo::new(Action::UntagPrincipal, target, !tagged, why)
}

fn undo_key(
    applied: &Applied,
    state: &PrincipalState,
    request: &Request,
    drift: &mut Vec<String>,
) -> Undo {
    let key = applied.target.as_str();
    let keys = match &state.access_keys {
        Ok(keys) => keys,
        Err(e) => {
            return Undo::unreadable(
                Action::ReactivateAccessKey,
                key,
                format!("could not read the access keys: {e}"),
            );
        }
    };
    let Some(now) = keys.iter().find(|k| k.id == key) else {
        drift.push(format!(
            "access key {key} no longer exists (deleted since the containment)"
        ));
        return Undo::keep(
            Action::KeepAccessKeyInactive,
            key,
            "the key no longer exists",
        );
    };
    if !request.reactivate_access_keys.iter().any(|k| k == key) {
        let named = if applied.named_in_event {
            "named in the event as compromised"
        } else {
            "deactivated by this incident"
        };
        return Undo::keep(
            Action::KeepAccessKeyInactive,
            key,
            format!(
                "{named}: it stays inactive unless the release request lists it in \
                 reactivate_access_keys. Rotate it (create a new key, then delete this one once \
                 nothing uses it) rather than reactivate it"
            ),
        );
    }
    let why = if now.active {
        "already active"
    } else {
        "listed in reactivate_access_keys"
    };
    Undo::new(Action::ReactivateAccessKey, key, now.active, why)
}

fn undo_credential(
    applied: &Applied,
    state: &PrincipalState,
    request: &Request,
    drift: &mut Vec<String>,
) -> Undo {
    let target = applied.target.as_str();
    let Some((kind, id)) = CredentialKind::parse_target(target) else {
        return Undo::keep(
            Action::KeepCredentialInactive,
            target,
            "the ledger names no credential here",
        );
    };
    let what = kind.as_str().replace('_', " ");
    let plural = kind.plural();
    let listed = state.credentials.iter().find(|c| c.kind == kind);
    if let Some(Err(e)) = listed.map(|c| &c.listed) {
        return Undo::unreadable(
            Action::ReactivateCredential,
            target,
            format!("could not read the user's {plural}: {e}"),
        );
    }
    let Some(active) = state.credential(target) else {
        drift.push(format!(
            "{what} {id} no longer exists (deleted since the containment)"
        ));
        return Undo::keep(
            Action::KeepCredentialInactive,
            target,
            format!("the {what} no longer exists"),
        );
    };
    if !request.reactivate_credentials.iter().any(|r| r == id) {
        return Undo::keep(
            Action::KeepCredentialInactive,
            target,
            format!(
                "deactivated by this incident: it stays inactive unless the release request lists                  {id} in reactivate_credentials. Whoever held the user's keys may hold it too:                  issue a new one rather than reactivate it"
            ),
        );
    }
    let why = if active {
        "already active"
    } else {
        "listed in reactivate_credentials"
    };
    Undo::new(Action::ReactivateCredential, target, active, why)
}

fn undo_deny(applied: &Applied, now: &Now<'_>, drift: &mut Vec<String>) -> Undo {
    let state = now.state;
    let route = applied.route.unwrap_or(Route::Inline);
    let target = applied.target.clone();
    let named = format!("{}{}", plan::MANAGED_PATH, plan::DENY_POLICY_NAME);
    // A policy Tourniquet made beside a look-alike of its name, as the ledger records it.
    let scoped = applied
        .policy
        .clone()
        .filter(|p| p.contains(&format!("{named}-")));
    let (present, what) = match route {
        Route::Managed => match &state.attached_policy_arns {
            Ok(arns) => match &scoped {
                Some(arn) => (
                    arns.iter().any(|a| a == arn),
                    format!("managed policy {arn}"),
                ),
                None => (
                    arns.iter().any(|a| a.ends_with(&named)),
                    format!("managed policy {named}"),
                ),
            },
            Err(e) => {
                let why = format!("could not read the attached policies: {e}");
                return Undo::unreadable(Action::RemoveDenyAll, target, why);
            }
        },
        Route::QuarantineGroup => match &state.group_names {
            Ok(groups) => (
                groups.iter().any(|g| g == plan::QUARANTINE_GROUP),
                format!("membership of group {}", plan::QUARANTINE_GROUP),
            ),
            Err(e) => {
                let why = format!("could not read the groups: {e}");
                return Undo::unreadable(Action::RemoveDenyAll, target, why);
            }
        },
        Route::Inline => {
            let document = match &now.deny_document {
                Ok(document) => document,
                Err(e) => {
                    let why = format!("could not read the inline policy {target}: {e}");
                    return Undo::unreadable(Action::RemoveDenyAll, target, why);
                }
            };
            let ours: serde_json::Value =
                serde_json::from_str(&plan::deny_all_document()).unwrap_or_default();
            if let Some(document) = document
                && *document != ours
            {
                drift.push(format!(
                    "inline policy {target} was changed by hand since the containment"
                ));
                return Undo::keep(
                    Action::KeepDenyAll,
                    target,
                    "changed by hand since the containment: not Tourniquet's to remove",
                );
            }
            (document.is_some(), format!("inline policy {target}"))
        }
    };
    let mut undo = Undo::new(
        Action::RemoveDenyAll,
        target,
        !present,
        if present {
            format!("{what} comes off")
        } else {
            format!("{what} is already gone")
        },
    );
    undo.route = Some(route);
    undo.policy = scoped.filter(|_| route == Route::Managed);
    undo
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{CredentialsState, KeyState};
    use crate::report::{Status, TargetReport};

    fn alice() -> Principal {
        Principal::user("111122223333", "alice").unwrap()
    }

    fn step(action: Action, target: &str, route: Option<Route>) -> StepReport {
        StepReport {
            route,
            ..StepReport::new(action, target, Outcome::Applied, String::new())
        }
    }

    fn report(steps: Vec<StepReport>) -> Report {
        Report {
            targets: vec![TargetReport {
                principal_arn: alice().arn(),
                account_id: alice().account_id,
                status: Status::Contained,
                message: None,
                cause: None,
                steps,
            }],
            ..Report::new("IR-1", Status::Contained, false)
        }
    }

    fn state(keys: &[(&str, bool)], tagged: bool) -> PrincipalState {
        PrincipalState {
            access_keys: Ok(keys
                .iter()
                .map(|(id, active)| KeyState {
                    id: id.to_string(),
                    active: *active,
                })
                .collect()),
            credentials: Vec::new(),
            inline_policy_names: Ok(vec![plan::DENY_POLICY_NAME.into()]),
            attached_policy_arns: Ok(Vec::new()),
            group_names: Ok(Vec::new()),
            tags: Ok(if tagged {
                vec![(plan::INCIDENT_TAG.into(), "IR-1".into())]
            } else {
                Vec::new()
            }),
            session_cutoff: Ok(None),
        }
    }

    fn ours() -> Result<Option<serde_json::Value>, Unread> {
        Ok(Some(
            serde_json::from_str(&plan::deny_all_document()).unwrap(),
        ))
    }

    fn contained() -> Vec<StepReport> {
        let mut named = step(Action::DeactivateAccessKey, "AKIANAMED0000000", None);
        named.named_in_event = true;
        vec![
            step(
                Action::AttachDenyAll,
                plan::DENY_POLICY_NAME,
                Some(Route::Inline),
            ),
            step(
                Action::RevokeSessions,
                plan::REVOKE_POLICY_NAME,
                Some(Route::Inline),
            ),
            named,
            step(Action::DeactivateAccessKey, "AKIAOTHER0000000", None),
            step(Action::TagPrincipal, "tourniquet:incident=IR-1", None),
        ]
    }

    fn actions(plan: &ReleasePlan) -> Vec<(Action, &str, bool)> {
        plan.undos
            .iter()
            .map(|u| (u.action, u.target.as_str(), u.done || u.keep))
            .collect()
    }

    #[test]
    fn the_ledger_is_read_from_typed_fields_not_from_prose() {
        let mut steps = contained();
        // A detail that claims the key was named changes nothing: only the field counts.
        steps[3].detail = "access key named in the event set to Inactive".into();
        let ledger = ledger(&[report(steps)], &alice());
        let named: Vec<bool> = ledger
            .iter()
            .filter(|a| a.action == Action::DeactivateAccessKey)
            .map(|a| a.named_in_event)
            .collect();
        assert_eq!(named, [true, false]);
    }

    #[test]
    fn no_other_credential_comes_back_unless_the_request_lists_it() {
        let ssh = "ssh_public_key:APKAEXAMPLESSHKEY001";
        let cert = "signing_certificate:CERTEXAMPLE000000001";
        let mut steps = contained();
        steps.push(step(Action::DeactivateCredential, ssh, None));
        steps.push(step(Action::DeactivateCredential, cert, None));
        let ledger = ledger(&[report(steps)], &alice());
        let mut now = state(&[], true);
        let inactive = |id: &str| KeyState {
            id: id.into(),
            active: false,
        };
        now.credentials = vec![
            CredentialsState {
                kind: CredentialKind::SshPublicKey,
                listed: Ok(vec![inactive("APKAEXAMPLESSHKEY001")]),
            },
            CredentialsState {
                kind: CredentialKind::SigningCertificate,
                listed: Err("AccessDenied".into()),
            },
        ];
        let now = Now {
            state: &now,
            deny_document: ours(),
        };
        let request = Request {
            reactivate_credentials: vec![
                "APKAEXAMPLESSHKEY001".into(),
                "NOTOURS0000000000001".into(),
            ],
            ..Request::default()
        };
        let plan = plan_release("IR-1", &alice(), &ledger, &now, &request);
        let undo = |target: &str| plan.undos.iter().find(|u| u.target == target).unwrap();
        assert_eq!(
            (undo(ssh).action, undo(ssh).done),
            (Action::ReactivateCredential, false)
        );
        assert!(
            undo(cert).unreadable.is_some(),
            "a list that could not be read is never guessed"
        );
        assert_eq!(
            undo("NOTOURS0000000000001").action,
            Action::KeepCredentialInactive
        );
        // Not listed: it stays inactive, with why.
        let plan = plan_release("IR-1", &alice(), &ledger, &now, &Request::default());
        let kept = plan.undos.iter().find(|u| u.target == ssh).unwrap();
        assert_eq!(kept.action, Action::KeepCredentialInactive);
        assert!(kept.why.contains("reactivate_credentials"));
    }

    #[test]
    fn no_key_comes_back_unless_the_request_lists_it() {
        let ledger = ledger(&[report(contained())], &alice());
        let now = state(
            &[("AKIANAMED0000000", false), ("AKIAOTHER0000000", false)],
            true,
        );
        let now = Now {
            state: &now,
            deny_document: ours(),
        };
        let plan = plan_release("IR-1", &alice(), &ledger, &now, &Request::default());
        let keys: Vec<_> = actions(&plan)
            .into_iter()
            .filter(|(_, t, _)| t.starts_with("AKIA"))
            .collect();
        assert_eq!(
            keys,
            [
                (Action::KeepAccessKeyInactive, "AKIAOTHER0000000", true),
                (Action::KeepAccessKeyInactive, "AKIANAMED0000000", true),
            ]
        );
        let listed = Request {
            reactivate_access_keys: vec!["AKIAOTHER0000000".into(), "AKIANOTOURS00000".into()],
            ..Request::default()
        };
        let plan = plan_release("IR-1", &alice(), &ledger, &now, &listed);
        let keys: Vec<_> = actions(&plan)
            .into_iter()
            .filter(|(_, t, _)| t.starts_with("AKIA"))
            .collect();
        assert_eq!(
            keys,
            [
                (Action::ReactivateAccessKey, "AKIAOTHER0000000", false),
                (Action::KeepAccessKeyInactive, "AKIANAMED0000000", true),
                (Action::KeepAccessKeyInactive, "AKIANOTOURS00000", true),
            ]
        );
    }

    #[test]
    fn a_ledger_naming_a_policy_tourniquet_never_creates_is_untrusted() {
        let mut forged = contained();
        forged[0].target = "CustomerDenyProduction".into();
        let mut forged_arn = contained();
        forged_arn[0].route = Some(Route::Managed);
        forged_arn[0].policy = Some("arn:aws:iam::111122223333:policy/SecurityBaseline".into());
        let mut forged_group = contained();
        forged_group[0].route = Some(Route::QuarantineGroup);
        forged_group[0].group = Some("Admins".into());
        for steps in [forged, forged_arn, forged_group] {
            let ledger = ledger(&[report(steps)], &alice());
            let now = state(&[], true);
            let now = Now {
                state: &now,
                deny_document: ours(),
            };
            let plan = plan_release("IR-1", &alice(), &ledger, &now, &Request::default());
            assert_eq!(plan.untrusted.len(), 1, "{plan:?}");
            assert!(plan.untrusted[0].contains("not Tourniquet's record"));
        }
        let genuine = ledger(&[report(contained())], &alice());
        let now = state(&[], true);
        let now = Now {
            state: &now,
            deny_document: ours(),
        };
        assert!(
            plan_release("IR-1", &alice(), &genuine, &now, &Request::default())
                .untrusted
                .is_empty()
        );
    }

    #[test]
    fn a_failed_read_is_not_gone() {
        let ledger = ledger(&[report(contained())], &alice());
        let mut unreadable = state(&[("AKIAOTHER0000000", false)], true);
        unreadable.tags = Err("Throttling".into());
        unreadable.access_keys = Err("Throttling".into());
        let now = Now {
            state: &unreadable,
            deny_document: Err("ServiceFailure".into()),
        };
        let plan = plan_release("IR-1", &alice(), &ledger, &now, &Request::default());
        let unread: Vec<Action> = plan
            .undos
            .iter()
            .filter(|u| u.unreadable.is_some())
            .map(|u| u.action)
            .collect();
        assert_eq!(
            unread,
            [
                Action::UntagPrincipal,
                Action::ReactivateAccessKey,
                Action::ReactivateAccessKey,
                Action::RemoveDenyAll
            ]
        );
        assert!(plan.undos.iter().all(|u| u.unreadable.is_none() || !u.done));
    }

    #[test]
    fn a_run_that_died_before_its_report_is_undone_where_its_intent_is_found_in_place() {
        let intent = crate::ledger::Intent {
            ledger_version: crate::report::LEDGER_VERSION,
            incident_id: "IR-1".into(),
            function: "contain".into(),
            cutoff: "2026-11-23T18:00:00Z".into(),
            targets: vec![crate::ledger::IntendedTarget {
                principal_arn: None,
                access_key_ids: vec!["AKIANAMED0000000".into()],
                actions: Action::CONTAINMENT.to_vec(),
                every_key: true,
            }],
            identity_center_users: Vec::new(),
        };
        let now = state(
            &[("AKIANAMED0000000", false), ("AKIAOTHER0000000", false)],
            true,
        );
        let ledger = intended(&intent, &alice(), &now);
        let found: Vec<(Action, &str)> = ledger
            .iter()
            .map(|a| (a.action, a.target.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (Action::AttachDenyAll, plan::DENY_POLICY_NAME),
                (Action::RevokeSessions, plan::REVOKE_POLICY_NAME),
                (Action::DeactivateAccessKey, "AKIANAMED0000000"),
                (Action::DeactivateAccessKey, "AKIAOTHER0000000"),
                (Action::TagPrincipal, "tourniquet:incident=IR-1"),
            ]
        );
        assert!(ledger[2].named_in_event && !ledger[3].named_in_event);
        let now = Now {
            state: &now,
            deny_document: ours(),
        };
        let plan = plan_release("IR-1", &alice(), &ledger, &now, &Request::default());
        assert!(
            plan.untrusted.is_empty() && plan.drift.is_empty(),
            "{plan:?}"
        );
        let deny = plan
            .undos
            .iter()
            .find(|u| u.action == Action::RemoveDenyAll)
            .unwrap();
        assert!(!deny.done, "the deny found in place comes off");
        // An intent for another principal's key is not this principal's.
        let elsewhere = state(&[("AKIAELSEWHERE000", true)], false);
        assert!(intended(&intent, &alice(), &elsewhere).is_empty());
    }

    #[test]
    fn the_session_cutoff_and_aws_quarantine_stay() {
        let ledger = ledger(&[report(contained())], &alice());
        let mut now = state(&[], true);
        now.attached_policy_arns = Ok(vec![
            "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3".into(),
        ]);
        let now = Now {
            state: &now,
            deny_document: ours(),
        };
        let plan = plan_release("IR-1", &alice(), &ledger, &now, &Request::default());
        let kept: Vec<Action> = plan
            .undos
            .iter()
            .filter(|u| u.keep)
            .map(|u| u.action)
            .collect();
        assert!(kept.contains(&Action::KeepSessionCutoff));
        assert!(kept.contains(&Action::KeepAwsQuarantine));
    }
}
