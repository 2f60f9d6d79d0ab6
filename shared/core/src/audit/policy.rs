//! What an IAM policy document allows, as far as the audit needs to know: its statements, whether
//! one grants everything, whether one allows an action without a condition on a given key, and
//! whom a trust policy lets in.
//!
//! This is not IAM's evaluation: Deny statements, resources and most conditions are not weighed.
//! Each check says what it looks at, and leans towards reporting (a human reads the finding).

use serde_json::Value;

/// IAM action names and condition keys are compared case-insensitively; `*` and `?` are
/// wildcards, and `*` matches `:` too.
const IGNORE_CASE: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: false,
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

/// One statement, its string-or-list fields as lists.
#[derive(Clone, Debug, Default)]
pub struct Statement {
    /// `Allow` or `Deny`.
    pub allow: bool,
    /// `Action`, or `NotAction` when `not_action`.
    pub actions: Vec<String>,
    /// Whether the statement lists the actions it does not allow (`NotAction`).
    pub not_action: bool,
    /// `Resource` (empty with `NotResource`).
    pub resources: Vec<String>,
    /// `Condition`, as written (`{operator: {key: value}}`).
    pub condition: Option<Value>,
    /// `Principal` (trust policies).
    pub principal: Option<Value>,
}

/// A string or a list of strings, as IAM writes most fields.
pub fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The statements of a policy document (one statement, or a list).
pub fn statements(document: &Value) -> Vec<Statement> {
    let list = match document.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    list.into_iter()
        .map(|s| {
            let not_action = s.get("NotAction").is_some();
            Statement {
                allow: s.get("Effect").and_then(Value::as_str) == Some("Allow"),
                actions: strings(s.get(if not_action { "NotAction" } else { "Action" })),
                not_action,
                resources: strings(s.get("Resource")),
                condition: s.get("Condition").cloned(),
                principal: s.get("Principal").cloned(),
            }
        })
        .collect()
}

/// Whether the action pattern `pattern` (`iam:Create*`, `*`) covers `action` (`iam:CreateRole`).
pub fn covers(pattern: &str, action: &str) -> bool {
    glob::Pattern::new(pattern).is_ok_and(|p| p.matches_with(action, IGNORE_CASE))
}

impl Statement {
    /// Whether this statement, were it the only one, would allow `action`.
    pub fn allows(&self, action: &str) -> bool {
        let listed = self.actions.iter().any(|p| covers(p, action));
        self.allow && listed != self.not_action
    }

    /// Whether the statement's condition names `key` (under any operator), case-insensitively.
    pub fn conditions_on(&self, key: &str) -> bool {
        self.condition
            .as_ref()
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|operators| operators.values())
            .filter_map(Value::as_object)
            .flat_map(|keys| keys.keys())
            .any(|k| k.eq_ignore_ascii_case(key))
    }

    /// Whether this is CIS's full administrator statement: Allow, Action `*`, Resource `*`.
    pub fn grants_everything(&self) -> bool {
        self.allow
            && !self.not_action
            && self.actions.iter().any(|a| a == "*" || a == "*:*")
            && self.resources.iter().any(|r| r == "*")
    }
}

/// Whether the document holds a full administrator statement.
pub fn grants_everything(document: &Value) -> bool {
    statements(document)
        .iter()
        .any(Statement::grants_everything)
}

/// The first of `actions` the document allows in a statement without a condition on `key`.
pub fn allows_unconditioned<'a>(
    document: &Value,
    actions: &[&'a str],
    key: &str,
) -> Option<&'a str> {
    let statements = statements(document);
    actions.iter().copied().find(|action| {
        statements
            .iter()
            .any(|s| s.allows(action) && !s.conditions_on(key))
    })
}

/// Who a trust policy's Allow statement lets assume the role, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trusted {
    /// `AWS` principals: `*`, account ids, ARNs.
    pub aws: Vec<String>,
    /// `Service` principals.
    pub services: Vec<String>,
    /// `Federated` principals (SAML providers, OIDC providers, Cognito).
    pub federated: Vec<String>,
}

/// The principals a statement names (`"*"` is `AWS: *`).
pub fn trusted(statement: &Statement) -> Trusted {
    match &statement.principal {
        Some(Value::String(s)) if s == "*" => Trusted {
            aws: vec!["*".into()],
            ..Trusted::default()
        },
        Some(Value::Object(map)) => Trusted {
            aws: strings(map.get("AWS")),
            services: strings(map.get("Service")),
            federated: strings(map.get("Federated")),
        },
        _ => Trusted::default(),
    }
}

/// The account an `AWS` principal names: `123456789012`, `arn:aws:iam::123456789012:root`,
/// `arn:aws:iam::123456789012:role/x`; `None` for `*` and for unique ids (`AROA...`).
pub fn principal_account(aws: &str) -> Option<&str> {
    if aws.len() == 12 && aws.chars().all(|c| c.is_ascii_digit()) {
        return Some(aws);
    }
    let account = aws.strip_prefix("arn:")?.split(':').nth(3)?;
    (account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())).then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards_and_not_action_cover_as_iam_does() {
        let s = &statements(
            &json!({"Statement": {"Effect": "Allow", "Action": "IAM:create*", "Resource": "*"}}),
        )[0];
        assert!(s.allows("iam:CreateRole"));
        assert!(!s.allows("iam:AttachRolePolicy"));
        let not = &statements(
            &json!({"Statement": [{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}]}),
        )[0];
        assert!(not.allows("iam:CreateRole") && !not.allows("s3:GetObject"));
        let deny = &statements(
            &json!({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}),
        )[0];
        assert!(!deny.allows("iam:CreateRole"));
    }

    #[test]
    fn a_boundary_condition_under_any_operator_bounds_the_statement() {
        let bounded = json!({"Statement": [{"Effect": "Allow", "Action": ["iam:CreateRole"], "Resource": "*",
            "Condition": {"StringEquals": {"iam:permissionsboundary": "arn:aws:iam::111122223333:policy/b"}}}]});
        assert_eq!(
            allows_unconditioned(&bounded, &["iam:CreateRole"], "iam:PermissionsBoundary"),
            None
        );
        let open = json!({"Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]});
        assert_eq!(
            allows_unconditioned(
                &open,
                &["iam:CreateRole", "iam:PutRolePolicy"],
                "iam:PermissionsBoundary"
            ),
            Some("iam:CreateRole")
        );
    }

    #[test]
    fn only_action_star_on_resource_star_is_everything() {
        assert!(grants_everything(
            &json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}})
        ));
        assert!(grants_everything(
            &json!({"Statement": [{"Effect": "Allow", "Action": ["*:*"], "Resource": ["*"]}]})
        ));
        assert!(!grants_everything(
            &json!({"Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]})
        ));
        assert!(!grants_everything(
            &json!({"Statement": [{"Effect": "Allow", "NotAction": "*", "Resource": "*"}]})
        ));
        assert!(!grants_everything(
            &json!({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})
        ));
    }

    #[test]
    fn trust_principals_and_their_accounts() {
        let s = &statements(
            &json!({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"AWS": ["arn:aws:iam::444455556666:root", "777788889999"], "Service": "ec2.amazonaws.com"}}]}),
        )[0];
        let t = trusted(s);
        assert_eq!(t.services, ["ec2.amazonaws.com"]);
        let accounts: Vec<_> = t.aws.iter().filter_map(|a| principal_account(a)).collect();
        assert_eq!(accounts, ["444455556666", "777788889999"]);
        let star = &statements(
            &json!({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": "*"}]}),
        )[0];
        assert_eq!(trusted(star).aws, ["*"]);
        assert_eq!(principal_account("*"), None);
        assert_eq!(principal_account("AROAEXAMPLEID"), None);
    }
}
