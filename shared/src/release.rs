//! Release: the pure half of undoing a containment. From the incident's ledger (the reports it
//! stored) and the principal's state now, decide what to undo, what is already undone, what must
//! stay, and what changed by hand since (drift), which stops the release unless forced.

use crate::plan::{self, PrincipalState};
use crate::principal::Principal;
use crate::report::{Outcome, Report};
use serde::Serialize;

/// A containment step this incident applied to the principal, as its reports record it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// `attach_deny_all`, `revoke_sessions`, `deactivate_access_key`, `tag_principal`.
    pub action: String,
    /// The policy, key or tag.
    pub target: String,
    /// For policies: `inline`, `managed`, `quarantine_group`.
    pub route: Option<String>,
    /// Whether the key was named in the event as compromised (it stays inactive by default).
    pub named_in_event: bool,
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
                .filter(|s| s.outcome == Outcome::Applied)
            {
                let entry = Applied {
                    action: step.action.clone(),
                    target: step.target.clone(),
                    route: step.route.clone(),
                    named_in_event: step.detail.contains("named in the event"),
                };
                if plan::is_containment_action(&entry.action) && !applied.contains(&entry) {
                    applied.push(entry);
                }
            }
        }
    }
    applied
}

/// What the release request asks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// Keys named as compromised that the responder wants back (rotated, or a false positive).
    pub reactivate_access_keys: Vec<String>,
    /// Release despite drift, undoing only what still matches the ledger.
    pub force: bool,
}

/// One undo, or one thing that stays, with why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Undo {
    /// `remove_deny_all`, `reactivate_access_key`, `untag_principal`, `keep_session_cutoff`,
    /// `keep_access_key_inactive`, `keep_aws_quarantine`.
    pub action: &'static str,
    /// The policy, key, group or tags.
    pub target: String,
    /// How the deny was put in place, for `remove_deny_all`.
    pub route: Option<String>,
    /// Already as the release wants it: nothing to write.
    pub done: bool,
    /// Nothing to write by design (the residue), with why in `why`.
    pub keep: bool,
    /// Why, in words.
    pub why: String,
}

impl Undo {
    fn new(
        action: &'static str,
        target: impl Into<String>,
        done: bool,
        why: impl Into<String>,
    ) -> Self {
        Self {
            action,
            target: target.into(),
            route: None,
            done,
            keep: false,
            why: why.into(),
        }
    }

    fn keep(action: &'static str, target: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            keep: true,
            ..Self::new(action, target, true, why)
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
}

/// What IAM says now, beyond [`PrincipalState`]: the deny's document where it is inline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Now<'a> {
    /// The lists.
    pub state: &'a PrincipalState,
    /// The inline deny's document as IAM returns it, decoded; `None` when there is none.
    pub deny_document: Option<serde_json::Value>,
}

/// Decides the release of `incident_id` from its ledger and the principal's state now.
pub fn plan_release(
    incident_id: &str,
    ledger: &[Applied],
    now: &Now<'_>,
    request: &Request,
) -> ReleasePlan {
    let state = now.state;
    let mut plan = ReleasePlan::default();
    if let Some(other) = state.incident_tag().filter(|t| *t != incident_id) {
        plan.drift.push(format!(
            "the principal is now under incident {other}: releasing {incident_id} would lift that \
             containment too"
        ));
    }
    for applied in ledger.iter().rev() {
        match applied.action.as_str() {
            "tag_principal" => {
                let tagged = state.incident_tag() == Some(incident_id);
                let why = if tagged {
                    "the incident tags come off; tourniquet:released-* tags record the release"
                } else {
                    "the incident tags are already off"
                };
                plan.undos.push(Undo::new(
                    "untag_principal",
                    format!("{},{}", plan::INCIDENT_TAG, plan::CONTAINED_AT_TAG),
                    !tagged,
                    why,
                ));
            }
            "deactivate_access_key" => {
                plan.undos
                    .push(undo_key(applied, state, request, &mut plan.drift))
            }
            "attach_deny_all" => plan.undos.push(undo_deny(applied, now, &mut plan.drift)),
            "revoke_sessions" => plan.undos.push(Undo::keep(
                "keep_session_cutoff",
                applied.target.clone(),
                format!(
                    "sessions issued before the containment stay denied ({}): stolen session \
                     credentials must never work again",
                    state
                        .tag(plan::SESSION_CUTOFF_TAG)
                        .map(|c| format!("cutoff {c}"))
                        .unwrap_or_else(|| "the policy stays".into())
                ),
            )),
            _ => {}
        }
    }
    for key in &request.reactivate_access_keys {
        if !ledger
            .iter()
            .any(|a| a.action == "deactivate_access_key" && &a.target == key)
        {
            plan.undos.push(Undo::keep(
                "keep_access_key_inactive",
                key.clone(),
                "this incident did not deactivate it, so the release does not touch it",
            ));
        }
    }
    let released = state.tag(plan::RELEASED_TAG) == Some(incident_id);
    plan.undos.push(Undo::new(
        "tag_released",
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
                "keep_aws_quarantine",
                arn.clone(),
                "AWS attached this quarantine policy itself; detach it by hand once the key is rotated",
            ));
        }
    }
    plan
}

fn undo_key(
    applied: &Applied,
    state: &PrincipalState,
    request: &Request,
    drift: &mut Vec<String>,
) -> Undo {
    let key = applied.target.as_str();
    let now = state
        .access_keys
        .as_ref()
        .ok()
        .and_then(|keys| keys.iter().find(|k| k.id == key));
    let Some(now) = now else {
        drift.push(format!(
            "access key {key} no longer exists (deleted since the containment)"
        ));
        return Undo::keep("keep_access_key_inactive", key, "the key no longer exists");
    };
    if applied.named_in_event && !request.reactivate_access_keys.iter().any(|k| k == key) {
        return Undo::keep(
            "keep_access_key_inactive",
            key,
            "named in the event as compromised: it stays inactive unless the release request \
             lists it in reactivate_access_keys (rotate it instead)",
        );
    }
    let why = if now.active {
        "already active"
    } else {
        "was active before the containment"
    };
    Undo::new("reactivate_access_key", key, now.active, why)
}

fn undo_deny(applied: &Applied, now: &Now<'_>, drift: &mut Vec<String>) -> Undo {
    let state = now.state;
    let route = applied.route.clone().unwrap_or_else(|| "inline".into());
    let (present, what) = match route.as_str() {
        "managed" => (
            state.attached_policy_arns.as_ref().is_ok_and(|arns| {
                arns.iter().any(|a| {
                    a.ends_with(&format!("{}{}", plan::MANAGED_PATH, plan::DENY_POLICY_NAME))
                })
            }),
            format!(
                "managed policy {}{}",
                plan::MANAGED_PATH,
                plan::DENY_POLICY_NAME
            ),
        ),
        "quarantine_group" => (
            state
                .group_names
                .as_ref()
                .is_ok_and(|g| g.iter().any(|g| g == plan::QUARANTINE_GROUP)),
            format!("membership of group {}", plan::QUARANTINE_GROUP),
        ),
        _ => {
            let present = now.deny_document.is_some();
            let ours: serde_json::Value =
                serde_json::from_str(&plan::deny_all_document()).unwrap_or_default();
            if let Some(document) = &now.deny_document
                && *document != ours
            {
                drift.push(format!(
                    "inline policy {} was changed by hand since the containment",
                    applied.target
                ));
                return Undo::keep(
                    "keep_deny_all",
                    applied.target.clone(),
                    "changed by hand since the containment: not Tourniquet's to remove",
                );
            }
            (present, format!("inline policy {}", applied.target))
        }
    };
    let mut undo = Undo::new(
        "remove_deny_all",
        applied.target.clone(),
        !present,
        if present {
            format!("{what} comes off")
        } else {
            format!("{what} is already gone")
        },
    );
    undo.route = Some(route);
    undo
}
