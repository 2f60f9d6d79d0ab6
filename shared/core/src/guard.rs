//! Who is never contained: the protected patterns, the roles that run Tourniquet, the member
//! role, the organization's access roles and AWS-reserved paths. IAM names are unique
//! case-insensitively, so every comparison here is case-insensitive.

use crate::error::ConfigError;
use crate::principal::{Principal, PrincipalKind};

/// The protections a run applies to every principal before it touches it.
#[derive(Clone, Debug, Default)]
pub struct Guard {
    /// `PROTECTED_PRINCIPALS`: principals never contained.
    pub protected: Vec<ProtectedPattern>,
    /// `STACK_NAME`: the SAM stack Tourniquet runs in; its own roles (`<stack>-*`) are protected.
    pub stack_name: Option<String>,
    /// `MEMBER_ROLE_NAME`: the member roles' common name; every role whose name starts with it is
    /// protected. Unset: single account.
    pub member_role_name: Option<String>,
}

impl Guard {
    /// The rule that protects `principal`, if any, in words for the report: a built-in
    /// protection first (they hold whatever the configuration says), then `PROTECTED_PRINCIPALS`.
    /// Names are compared case-insensitively, as IAM compares them.
    pub fn protecting(&self, principal: &Principal) -> Option<String> {
        if let Some(rule) = self.built_in_protection(principal) {
            return Some(format!("built-in protection: {rule}"));
        }
        self.protected
            .iter()
            .find(|p| p.matches(principal))
            .map(|p| {
                format!(
                    "the protected pattern `{}` (PROTECTED_PRINCIPALS)",
                    p.as_str()
                )
            })
    }

    /// The built-in protections, which no configuration can lift: the roles that run
    /// Tourniquet, the roles through which an organization administers its accounts, and
    /// AWS-reserved paths.
    pub fn built_in_protection(&self, principal: &Principal) -> Option<String> {
        if principal.kind != PrincipalKind::Role {
            return None;
        }
        let name = principal.name.to_ascii_lowercase();
        if let Some(stack) = &self.stack_name
            && name.starts_with(&format!("{}-", stack.to_ascii_lowercase()))
        {
            return Some(format!(
                "a role of Tourniquet's own stack `{stack}` (STACK_NAME)"
            ));
        }
        if let Some(member) = &self.member_role_name
            && name.starts_with(&member.to_ascii_lowercase())
        {
            return Some(format!(
                "`{member}*`, the roles Tourniquet enters member accounts with (MEMBER_ROLE_NAME)"
            ));
        }
        if let Some(access) = ORGANIZATION_ACCESS_ROLES
            .iter()
            .find(|r| glob_matches(&r.to_ascii_lowercase(), &name))
        {
            return Some(format!(
                "`{access}`, a role through which the organization administers its accounts"
            ));
        }
        let path = principal.path.as_deref().unwrap_or("/");
        if let Some(reserved) = AWS_RESERVED_PATHS.iter().find(|p| path.starts_with(**p)) {
            return Some(format!(
                "the AWS-reserved path `{reserved}`, which only AWS may edit"
            ));
        }
        None
    }
}

/// Roles an organization's administrators (and its deployment tooling) enter accounts through:
/// containing them would cut the responders off from the accounts they must work in.
pub const ORGANIZATION_ACCESS_ROLES: [&str; 3] = [
    "OrganizationAccountAccessRole",
    "AWSControlTowerExecution",
    "stacksets-exec-*",
];

/// IAM paths that only AWS creates roles on; such roles are never edited in IAM.
pub const AWS_RESERVED_PATHS: [&str; 2] = ["/aws-reserved/", "/aws-service-role/"];

fn glob_matches(pattern: &str, text: &str) -> bool {
    glob::Pattern::new(pattern).is_ok_and(|p| p.matches_with(text, CASE_INSENSITIVE))
}

/// IAM names are unique case-insensitively, so protection matches them that way; `*` also
/// matches `/`, so one pattern covers every path.
pub const CASE_INSENSITIVE: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: false,
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

/// An ARN glob from `PROTECTED_PRINCIPALS` (`*` also matches `/`).
///
/// User and role names are unique in an account whatever their path, so a pattern without a path
/// (`arn:aws:iam::*:role/BreakGlass*`) is matched against the ARN without its path and protects
/// the role on any path. A pattern with a path (`role/admin/*`) is matched against the full ARN.
#[derive(Clone, Debug)]
pub struct ProtectedPattern {
    text: String,
    glob: glob::Pattern,
    has_path: bool,
}

impl ProtectedPattern {
    /// Parses one pattern of `PROTECTED_PRINCIPALS`; the error names the variable and the pattern.
    pub fn new(text: &str) -> Result<Self, ConfigError> {
        const VARIABLE: &str = "PROTECTED_PRINCIPALS";
        if !text.starts_with("arn:") {
            return Err(ConfigError::Entry {
                variable: VARIABLE,
                entry: text.into(),
                problem: "is not an ARN pattern (like arn:aws:iam::*:role/BreakGlass*)",
            });
        }
        let glob = glob::Pattern::new(text).map_err(|error| ConfigError::Glob {
            variable: VARIABLE,
            pattern: text.into(),
            error,
        })?;
        let resource = text.splitn(6, ':').nth(5).unwrap_or_default();
        let has_path = resource
            .split_once('/')
            .is_some_and(|(_, rest)| rest.contains('/'));
        Ok(Self {
            text: text.into(),
            glob,
            has_path,
        })
    }

    /// The pattern as configured.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this pattern can only be decided with the principal's path, which `principal` lacks.
    pub fn needs_path(&self, principal: &Principal) -> bool {
        self.has_path && principal.path.is_none() && principal.kind != PrincipalKind::Root
    }

    /// Whether `principal` is protected by this pattern (see the type's documentation on paths).
    pub fn matches(&self, principal: &Principal) -> bool {
        let arn = if self.has_path {
            // The responder reads the path first when the event lacks it (see `needs_path`).
            principal.arn()
        } else {
            principal.arn_without_path()
        };
        self.glob.matches_with(&arn, CASE_INSENSITIVE)
    }
}
