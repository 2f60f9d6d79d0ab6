//! IAM principals: the users, roles and root that events name, parsed from ARNs and names.

use serde::Serialize;
use std::fmt;

/// A name, id or ARN that is not one of an IAM principal; the `Display` names the value and says
/// what it should be, for a message that names the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    /// Not six `:`-separated parts.
    #[error("`{arn}` is not an ARN (expected arn:aws:iam::ACCOUNT:user/NAME or role/NAME)")]
    NotAnArn {
        /// The text given.
        arn: String,
    },
    /// Not `arn:` followed by an AWS partition.
    #[error("`{arn}` is not an AWS ARN")]
    NotAws {
        /// The ARN given.
        arn: String,
    },
    /// A region, which IAM and STS principal ARNs never have.
    #[error("`{arn}` has a region; IAM and STS principal ARNs have none")]
    HasRegion {
        /// The ARN given.
        arn: String,
    },
    /// An ARN of another service than IAM or STS.
    #[error("`{arn}` is an ARN of service `{service}`, not an IAM principal")]
    NotIam {
        /// The ARN given.
        arn: String,
        /// Its service.
        service: String,
    },
    /// An IAM ARN of something else than a user, a role or root.
    #[error("`{arn}` is not an IAM user, role or root ARN (resource `{resource}`)")]
    NotPrincipal {
        /// The ARN given.
        arn: String,
        /// Its resource part.
        resource: String,
    },
    /// An STS ARN of something else than an assumed-role session.
    #[error("`{arn}` is an STS ARN but not an assumed-role session")]
    NotSession {
        /// The ARN given.
        arn: String,
    },
    /// Not `aws`, `aws-cn` or `aws-us-gov`.
    #[error("`{partition}` is not an AWS partition (aws, aws-cn, aws-us-gov)")]
    Partition {
        /// The partition given.
        partition: String,
    },
    /// Not 12 digits.
    #[error("`{account_id}` is not an AWS account id (12 digits)")]
    Account {
        /// The account id given.
        account_id: String,
    },
    /// Not 1 to 64 of the characters IAM allows.
    #[error("`{name}` is not a valid IAM user or role name (1-64 of letters, digits, +=,.@_-)")]
    Name {
        /// The name given.
        name: String,
    },
    /// Not 16 to 128 upper-case letters and digits.
    #[error("`{id}` is not an access key id (16-128 upper-case letters and digits, like AKIA...)")]
    AccessKeyId {
        /// The id given.
        id: String,
    },
}

/// What kind of IAM identity a principal is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// An IAM user (long-term access keys, console password).
    User,
    /// An IAM role (temporary credentials only).
    Role,
    /// The account's root user, which IAM policies cannot restrict.
    Root,
}

/// An IAM principal in one account.
///
/// Names of users and of roles are unique within an account whatever their path, so the name
/// identifies the principal; the path is kept when the event or IAM tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The partition (`aws`, `aws-cn`, `aws-us-gov`).
    pub partition: String,
    /// The 12-digit account the principal lives in.
    pub account_id: String,
    /// User, role or root.
    pub kind: PrincipalKind,
    /// The user or role name (`root` for root).
    pub name: String,
    /// The IAM path (`/`, `/ops/`), when known.
    pub path: Option<String>,
}

impl Principal {
    /// An IAM user known by name, as GuardDuty reports it.
    pub fn user(account_id: &str, name: &str) -> Result<Self, PrincipalError> {
        Self::named(PrincipalKind::User, account_id, name)
    }

    /// An IAM role known by name, as GuardDuty reports it for `AssumedRole`.
    pub fn role(account_id: &str, name: &str) -> Result<Self, PrincipalError> {
        Self::named(PrincipalKind::Role, account_id, name)
    }

    /// The same principal in `partition` (`aws`, `aws-cn`, `aws-us-gov`), as the event says it;
    /// an unknown partition is an error naming it.
    pub fn in_partition(self, partition: &str) -> Result<Self, PrincipalError> {
        check_partition(partition)?;
        Ok(Self {
            partition: partition.into(),
            ..self
        })
    }

    /// The root user of an account.
    pub fn root(account_id: &str) -> Result<Self, PrincipalError> {
        check_account(account_id)?;
        Ok(Self {
            partition: "aws".into(),
            account_id: account_id.into(),
            kind: PrincipalKind::Root,
            name: "root".into(),
            path: None,
        })
    }

    fn named(kind: PrincipalKind, account_id: &str, name: &str) -> Result<Self, PrincipalError> {
        check_account(account_id)?;
        check_name(name)?;
        Ok(Self {
            partition: "aws".into(),
            account_id: account_id.into(),
            kind,
            name: name.into(),
            path: None,
        })
    }

    /// Parses an IAM user, role or root ARN, or an STS assumed-role ARN (which names its role).
    ///
    /// The error says what is wrong with the ARN, for a message that names the field.
    pub fn parse_arn(arn: &str) -> Result<Self, PrincipalError> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, partition, service, region, account_id, resource] = parts[..] else {
            return Err(PrincipalError::NotAnArn { arn: arn.into() });
        };
        if prefix != "arn" || check_partition(partition).is_err() {
            return Err(PrincipalError::NotAws { arn: arn.into() });
        }
        if !region.is_empty() {
            return Err(PrincipalError::HasRegion { arn: arn.into() });
        }
        if !matches!(service, "iam" | "sts") {
            return Err(PrincipalError::NotIam {
                arn: arn.into(),
                service: service.into(),
            });
        }
        check_account(account_id)?;
        let (kind, path, name) = match (service, resource) {
            ("iam", "root") => (PrincipalKind::Root, None, "root"),
            ("iam", resource) => {
                let (kind, rest) = if let Some(rest) = resource.strip_prefix("user/") {
                    (PrincipalKind::User, rest)
                } else if let Some(rest) = resource.strip_prefix("role/") {
                    (PrincipalKind::Role, rest)
                } else {
                    return Err(PrincipalError::NotPrincipal {
                        arn: arn.into(),
                        resource: resource.into(),
                    });
                };
                // An ARN without a path says nothing of the path: `user/alice` may be
                // `/breakglass/alice`. `None` makes a protection by path read the real one.
                let (path, name) = match rest.rfind('/') {
                    Some(i) => (Some(format!("/{}/", &rest[..i])), &rest[i + 1..]),
                    None => (None, rest),
                };
                (kind, path, name)
            }
            ("sts", resource) => match resource.strip_prefix("assumed-role/") {
                Some(rest) => {
                    let role = rest.split('/').next().unwrap_or_default();
                    (PrincipalKind::Role, None, role)
                }
                // Some emulators answer GetCallerIdentity for an IAM user with an STS ARN.
                None => match resource.strip_prefix("user/") {
                    Some(name) => (PrincipalKind::User, None, name),
                    None => {
                        return Err(PrincipalError::NotSession { arn: arn.into() });
                    }
                },
            },
            (other, _) => {
                return Err(PrincipalError::NotIam {
                    arn: arn.into(),
                    service: other.into(),
                });
            }
        };
        if kind != PrincipalKind::Root {
            check_name(name)?;
        }
        Ok(Self {
            partition: partition.into(),
            account_id: account_id.into(),
            kind,
            name: name.into(),
            path,
        })
    }

    /// The principal's ARN, with its path when known.
    pub fn arn(&self) -> String {
        let Self {
            partition,
            account_id,
            name,
            ..
        } = self;
        let path = self.path.as_deref().unwrap_or("/");
        match self.kind {
            PrincipalKind::User => format!("arn:{partition}:iam::{account_id}:user{path}{name}"),
            PrincipalKind::Role => format!("arn:{partition}:iam::{account_id}:role{path}{name}"),
            PrincipalKind::Root => format!("arn:{partition}:iam::{account_id}:root"),
        }
    }

    /// The ARN without its path: what a pattern without a path is matched against.
    pub fn arn_without_path(&self) -> String {
        Self {
            path: None,
            ..self.clone()
        }
        .arn()
    }

    /// Whether two values name the same principal (same account, kind and name; paths aside).
    ///
    /// IAM user and role names are unique case-insensitively: `Alice` and `alice` are one user,
    /// so an event's spelling can never make one principal look like another.
    pub fn same_as(&self, other: &Principal) -> bool {
        self.account_id == other.account_id
            && self.kind == other.kind
            && self.name.eq_ignore_ascii_case(&other.name)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn())
    }
}

/// Checks a partition: IAM principals live in `aws`, `aws-cn` and `aws-us-gov`.
pub fn check_partition(partition: &str) -> Result<(), PrincipalError> {
    if matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
        Ok(())
    } else {
        Err(PrincipalError::Partition {
            partition: partition.into(),
        })
    }
}

/// Checks that `account_id` is an AWS account id (12 digits); the error says what it is not.
pub fn check_account(account_id: &str) -> Result<(), PrincipalError> {
    if account_id.len() == 12 && account_id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(PrincipalError::Account {
            account_id: account_id.into(),
        })
    }
}

/// IAM user and role names: 1 to 64 characters of letters, digits and `+=,.@_-`.
fn check_name(name: &str) -> Result<(), PrincipalError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(PrincipalError::Name { name: name.into() })
    }
}

/// Checks an access key id: 16 to 128 upper-case letters and digits (`AKIA…` or `ASIA…`).
pub fn check_access_key_id(id: &str) -> Result<(), PrincipalError> {
    let valid = (16..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(PrincipalError::AccessKeyId { id: id.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_arn_with_path_keeps_path_and_name() {
        let p = Principal::parse_arn("arn:aws:iam::111122223333:user/ops/eu/alice").unwrap();
        assert_eq!(p.kind, PrincipalKind::User);
        assert_eq!(p.name, "alice");
        assert_eq!(p.path.as_deref(), Some("/ops/eu/"));
        assert_eq!(p.arn(), "arn:aws:iam::111122223333:user/ops/eu/alice");
        assert_eq!(p.arn_without_path(), "arn:aws:iam::111122223333:user/alice");
    }

    #[test]
    fn assumed_role_session_arn_names_its_role() {
        let p =
            Principal::parse_arn("arn:aws:sts::111122223333:assumed-role/Responder/i-123").unwrap();
        assert_eq!(
            (p.kind, p.name.as_str()),
            (PrincipalKind::Role, "Responder")
        );
    }

    #[test]
    fn root_arn_is_root() {
        let p = Principal::parse_arn("arn:aws:iam::111122223333:root").unwrap();
        assert_eq!(p.kind, PrincipalKind::Root);
    }

    #[test]
    fn malformed_arns_say_what_is_wrong() {
        for (arn, says) in [
            ("alice", "not an ARN"),
            ("arn:aws:iam::1111:user/alice", "12 digits"),
            ("arn:aws:s3:::bucket/key", "service `s3`"),
            (
                "arn:aws:iam::111122223333:group/admins",
                "resource `group/admins`",
            ),
            (
                "arn:aws:iam::111122223333:user/",
                "not a valid IAM user or role name",
            ),
        ] {
            let err = Principal::parse_arn(arn).unwrap_err().to_string();
            assert!(err.contains(says), "{arn}: {err}");
        }
    }

    #[test]
    fn names_that_differ_only_in_case_are_the_same_principal() {
        let a = Principal::role("111122223333", "BreakGlass").unwrap();
        let b = Principal::parse_arn("arn:aws:iam::111122223333:role/ops/breakglass").unwrap();
        assert!(a.same_as(&b));
        assert!(!a.same_as(&Principal::user("111122223333", "BreakGlass").unwrap()));
    }

    #[test]
    fn access_key_ids_are_checked() {
        assert!(check_access_key_id("AKIAEXAMPLECOMPROM01").is_ok());
        assert!(check_access_key_id("akia-lower").is_err());
    }
}
