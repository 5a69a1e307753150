//! Who is asking (an [`Identity`], as the authenticator hands it to the authorizer) and whom a
//! binding names (a [`SubjectRef`], one entry of its `subjects`).

use std::fmt;

use k8s_openapi::api::rbac::v1::Subject;
use serde::Serialize;
use thiserror::Error;

const SERVICE_ACCOUNT_USER_PREFIX: &str = "system:serviceaccount:";
const ALL_SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";
/// Every authenticated request carries this group; bindings to it reach everyone with a login.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
const ANONYMOUS_USER: &str = "system:anonymous";
const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";

const ACCEPTED_FORMS: &str = "user:NAME, group:NAME, system:serviceaccount:NAMESPACE:NAME, serviceaccount:NAMESPACE:NAME, sa:NAMESPACE/NAME";

/// A subject that could not be read from the command line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cannot read the subject {input:?}: {problem}; accepted forms: {ACCEPTED_FORMS}")]
pub struct ParseError {
    pub input: String,
    pub problem: ParseProblem,
}

/// What is wrong with a subject given on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseProblem {
    #[error("it does not say what kind of subject it is")]
    NoKind,
    #[error("{0:?} is not a kind of subject")]
    UnknownKind(String),
    #[error("the name is empty")]
    EmptyName,
    #[error("a service account needs both a namespace and a name")]
    IncompleteServiceAccount,
    #[error("{0:?} is not a namespace name (lowercase letters, digits and '-', at most 63 characters)")]
    InvalidNamespace(String),
    #[error(
        "{0:?} is not a service account name (lowercase letters, digits, '-' and '.', at most 253 characters)"
    )]
    InvalidServiceAccountName(String),
}

/// One subject a binding can name. Serialized with the binding's own `kind` spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind")]
pub enum SubjectRef {
    User { name: String },
    Group { name: String },
    ServiceAccount { namespace: String, name: String },
}

impl SubjectRef {
    /// Reads `user:NAME`, `group:NAME`, `system:serviceaccount:NS:NAME`,
    /// `serviceaccount:NS:NAME` or `sa:NS/NAME`. A user name that is a service account's user
    /// name (`user:system:serviceaccount:NS:NAME`) is that service account.
    pub fn parse(spec: &str) -> Result<SubjectRef, ParseError> {
        let fail = |problem| ParseError { input: spec.to_string(), problem };
        let parsed = if let Some(rest) = spec.strip_prefix(SERVICE_ACCOUNT_USER_PREFIX) {
            service_account(rest, ':')
        } else if let Some(rest) = spec.strip_prefix("serviceaccount:") {
            service_account(rest, ':')
        } else if let Some(rest) = spec.strip_prefix("sa:") {
            service_account(rest, '/')
        } else if let Some(name) = spec.strip_prefix("user:") {
            match name.strip_prefix(SERVICE_ACCOUNT_USER_PREFIX) {
                Some(rest) => service_account(rest, ':'),
                None => non_empty(name).map(|name| SubjectRef::User { name }),
            }
        } else if let Some(name) = spec.strip_prefix("group:") {
            non_empty(name).map(|name| SubjectRef::Group { name })
        } else {
            match spec.split_once(':') {
                Some((kind, _)) => Err(ParseProblem::UnknownKind(kind.to_string())),
                None => Err(ParseProblem::NoKind),
            }
        };
        parsed.map_err(fail)
    }

    /// Whether this subject entry matches `who`, as the authorizer decides: a user by name, a
    /// group by membership, a service account by its user name (`system:serviceaccount:NS:NAME`).
    pub fn applies_to(&self, who: &Identity) -> bool {
        self.view().applies_to(who)
    }

    fn view(&self) -> SubjectView<'_> {
        match self {
            SubjectRef::User { name } => SubjectView::User(name),
            SubjectRef::Group { name } => SubjectView::Group(name),
            SubjectRef::ServiceAccount { namespace, name } => SubjectView::ServiceAccount { namespace, name },
        }
    }
}

/// A subject borrowed from a binding's entry, so that matching thousands of entries copies
/// nothing; [`SubjectView::to_subject`] makes the one reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubjectView<'s> {
    User(&'s str),
    Group(&'s str),
    ServiceAccount { namespace: &'s str, name: &'s str },
}

impl<'s> SubjectView<'s> {
    /// The subject a binding's entry names, or None when it can name nobody: an unknown kind, an
    /// empty name, or a service account without a namespace in a ClusterRoleBinding (in a
    /// RoleBinding the authorizer defaults it to the binding's namespace).
    pub(crate) fn of_entry(
        entry: &'s Subject,
        binding_namespace: Option<&'s str>,
    ) -> Option<SubjectView<'s>> {
        let name = entry.name.as_str();
        if name.is_empty() {
            return None;
        }
        match entry.kind.as_str() {
            "User" => Some(SubjectView::User(name)),
            "Group" => Some(SubjectView::Group(name)),
            "ServiceAccount" => {
                let namespace = [entry.namespace.as_deref(), binding_namespace]
                    .into_iter()
                    .flatten()
                    .find(|namespace| !namespace.is_empty())?;
                Some(SubjectView::ServiceAccount { namespace, name })
            }
            _ => None,
        }
    }

    pub(crate) fn applies_to(self, who: &Identity) -> bool {
        match self {
            SubjectView::User(name) => who.user == name,
            SubjectView::Group(name) => who.groups.iter().any(|group| group == name),
            SubjectView::ServiceAccount { namespace, name } => who
                .user
                .strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)
                .and_then(|rest| rest.strip_prefix(namespace))
                .and_then(|rest| rest.strip_prefix(':'))
                .is_some_and(|rest| rest == name),
        }
    }

    pub(crate) fn to_subject(self) -> SubjectRef {
        match self {
            SubjectView::User(name) => SubjectRef::User { name: name.to_string() },
            SubjectView::Group(name) => SubjectRef::Group { name: name.to_string() },
            SubjectView::ServiceAccount { namespace, name } => {
                SubjectRef::ServiceAccount { namespace: namespace.to_string(), name: name.to_string() }
            }
        }
    }
}

impl fmt::Display for SubjectRef {
    /// The form [`SubjectRef::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectRef::User { name } => write!(f, "user:{name}"),
            SubjectRef::Group { name } => write!(f, "group:{name}"),
            SubjectRef::ServiceAccount { namespace, name } => {
                write!(f, "{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{name}")
            }
        }
    }
}

fn non_empty(name: &str) -> Result<String, ParseProblem> {
    if name.is_empty() { Err(ParseProblem::EmptyName) } else { Ok(name.to_string()) }
}

fn service_account(rest: &str, separator: char) -> Result<SubjectRef, ParseProblem> {
    let (namespace, name) = rest.split_once(separator).ok_or(ParseProblem::IncompleteServiceAccount)?;
    if namespace.is_empty() || name.is_empty() {
        return Err(ParseProblem::IncompleteServiceAccount);
    }
    if !is_dns_label(namespace) {
        return Err(ParseProblem::InvalidNamespace(namespace.to_string()));
    }
    if name.len() > 253 || !name.split('.').all(is_dns_label) {
        return Err(ParseProblem::InvalidServiceAccountName(name.to_string()));
    }
    Ok(SubjectRef::ServiceAccount { namespace: namespace.to_string(), name: name.to_string() })
}

/// RFC 1123 label, what Kubernetes requires of namespace names.
fn is_dns_label(text: &str) -> bool {
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !text.is_empty()
        && text.len() <= 63
        && text.chars().all(|c| alphanumeric(c) || c == '-')
        && text.starts_with(alphanumeric)
        && text.ends_with(alphanumeric)
}

/// Who is asking, as the authorizer sees it: a user name and the groups the authenticator gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Empty for a group considered on its own.
    pub user: String,
    pub groups: Vec<String>,
}

impl Identity {
    /// The identity a subject given on the command line authenticates as (see
    /// [`Identity::for_subject`]).
    pub fn parse(spec: &str) -> Result<Identity, ParseError> {
        SubjectRef::parse(spec).map(|subject| Identity::for_subject(&subject))
    }

    /// The identity a subject authenticates as, with the groups the authenticator adds: a service
    /// account is in `system:serviceaccounts`, `system:serviceaccounts:NS` and
    /// `system:authenticated`; a user in `system:authenticated` (`system:anonymous` in
    /// `system:unauthenticated` instead); a group stands for what its members get through it, so it
    /// has no user and that group alone.
    pub fn for_subject(subject: &SubjectRef) -> Identity {
        match subject {
            SubjectRef::User { name } if name == ANONYMOUS_USER => {
                Identity { user: name.clone(), groups: vec![UNAUTHENTICATED_GROUP.to_string()] }
            }
            SubjectRef::User { name } => {
                Identity { user: name.clone(), groups: vec![AUTHENTICATED_GROUP.to_string()] }
            }
            SubjectRef::Group { name } => Identity { user: String::new(), groups: vec![name.clone()] },
            SubjectRef::ServiceAccount { namespace, .. } => Identity {
                user: subject.to_string(),
                groups: vec![
                    ALL_SERVICE_ACCOUNTS_GROUP.to_string(),
                    format!("{ALL_SERVICE_ACCOUNTS_GROUP}:{namespace}"),
                    AUTHENTICATED_GROUP.to_string(),
                ],
            },
        }
    }

    /// The identity that exactly this subject entry matches, without the groups an
    /// authenticator would add: what a binding naming the subject gives it directly.
    pub fn named_by(subject: &SubjectRef) -> Identity {
        match subject {
            SubjectRef::Group { name } => Identity { user: String::new(), groups: vec![name.clone()] },
            SubjectRef::User { name } => Identity { user: name.clone(), groups: Vec::new() },
            SubjectRef::ServiceAccount { .. } => Identity { user: subject.to_string(), groups: Vec::new() },
        }
    }

    /// Adds groups (those an identity provider gives, say), each once.
    pub fn with_groups(mut self, groups: impl IntoIterator<Item = String>) -> Identity {
        for group in groups {
            if !self.groups.contains(&group) {
                self.groups.push(group);
            }
        }
        self
    }

    /// The service account this identity is, as (namespace, name).
    pub fn service_account(&self) -> Option<(&str, &str)> {
        let (namespace, name) = self.user.strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)?.split_once(':')?;
        (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> SubjectRef {
        SubjectRef::User { name: name.into() }
    }

    fn service_account_ref(namespace: &str, name: &str) -> SubjectRef {
        SubjectRef::ServiceAccount { namespace: namespace.into(), name: name.into() }
    }

    #[test]
    fn every_accepted_form_parses() {
        assert_eq!(SubjectRef::parse("user:alice@example.com").unwrap(), user("alice@example.com"));
        assert_eq!(
            SubjectRef::parse("group:system:masters").unwrap(),
            SubjectRef::Group { name: "system:masters".into() }
        );
        let expected = service_account_ref("kube-system", "coredns");
        for spec in [
            "system:serviceaccount:kube-system:coredns",
            "serviceaccount:kube-system:coredns",
            "sa:kube-system/coredns",
            "user:system:serviceaccount:kube-system:coredns",
        ] {
            assert_eq!(SubjectRef::parse(spec).unwrap(), expected, "{spec}");
        }
    }

    #[test]
    fn display_round_trips() {
        for subject in
            [user("alice"), SubjectRef::Group { name: "dev".into() }, service_account_ref("ns", "builder")]
        {
            assert_eq!(SubjectRef::parse(&subject.to_string()).unwrap(), subject);
        }
    }

    #[test]
    fn errors_name_the_input_the_problem_and_the_forms() {
        let error = SubjectRef::parse("alice").unwrap_err();
        assert_eq!(error.problem, ParseProblem::NoKind);
        let text = error.to_string();
        assert!(
            text.contains("\"alice\"") && text.contains("user:NAME") && text.contains("sa:NAMESPACE/NAME")
        );

        let cases = [
            ("robot:r2", ParseProblem::UnknownKind("robot".into())),
            ("user:", ParseProblem::EmptyName),
            ("group:", ParseProblem::EmptyName),
            ("sa:default", ParseProblem::IncompleteServiceAccount),
            ("sa:/builder", ParseProblem::IncompleteServiceAccount),
            ("serviceaccount:ns:", ParseProblem::IncompleteServiceAccount),
            ("sa:Prod/builder", ParseProblem::InvalidNamespace("Prod".into())),
            ("system:serviceaccount:ns:a:b", ParseProblem::InvalidServiceAccountName("a:b".into())),
        ];
        for (spec, problem) in cases {
            assert_eq!(SubjectRef::parse(spec).unwrap_err().problem, problem, "{spec}");
        }
    }

    #[test]
    fn identities_carry_the_groups_the_authenticator_adds() {
        let account = Identity::parse("sa:ci/deployer").unwrap();
        assert_eq!(account.user, "system:serviceaccount:ci:deployer");
        assert_eq!(
            account.groups,
            ["system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"]
        );
        assert_eq!(account.service_account(), Some(("ci", "deployer")));

        let alice =
            Identity::parse("user:alice").unwrap().with_groups(["dev".to_string(), "dev".to_string()]);
        assert_eq!(alice.groups, ["system:authenticated", "dev"]);
        assert_eq!(alice.service_account(), None);

        let anonymous = Identity::parse("user:system:anonymous").unwrap();
        assert_eq!(anonymous.groups, ["system:unauthenticated"]);

        let group = Identity::parse("group:dev").unwrap();
        assert_eq!((group.user.as_str(), group.groups.as_slice()), ("", &["dev".to_string()][..]));
    }

    fn entry_subject(entry: &Subject, binding_namespace: Option<&str>) -> Option<SubjectRef> {
        SubjectView::of_entry(entry, binding_namespace).map(SubjectView::to_subject)
    }

    #[test]
    fn service_account_entries_default_to_the_role_binding_namespace() {
        let entry = |namespace: Option<&str>| Subject {
            kind: "ServiceAccount".into(),
            name: "builder".into(),
            namespace: namespace.map(str::to_string),
            ..Default::default()
        };
        assert_eq!(entry_subject(&entry(None), Some("ci")), Some(service_account_ref("ci", "builder")));
        assert_eq!(entry_subject(&entry(Some("")), Some("ci")), Some(service_account_ref("ci", "builder")));
        assert_eq!(
            entry_subject(&entry(Some("other")), Some("ci")),
            Some(service_account_ref("other", "builder"))
        );
        // A ClusterRoleBinding has no namespace to default to: the entry names nobody.
        assert_eq!(entry_subject(&entry(None), None), None);

        let unknown = Subject { kind: "Robot".into(), name: "r2".into(), ..Default::default() };
        assert_eq!(entry_subject(&unknown, Some("ci")), None);
    }

    #[test]
    fn subjects_match_by_name_membership_and_service_account_user() {
        let account = Identity::parse("sa:ci/deployer").unwrap();
        assert!(service_account_ref("ci", "deployer").applies_to(&account));
        assert!(!service_account_ref("ci", "deploy").applies_to(&account));
        assert!(!service_account_ref("c", "deployer").applies_to(&account));
        assert!(user("system:serviceaccount:ci:deployer").applies_to(&account));
        assert!(SubjectRef::Group { name: "system:serviceaccounts:ci".into() }.applies_to(&account));
        assert!(!SubjectRef::Group { name: "system:serviceaccounts:prod".into() }.applies_to(&account));
        assert!(!user("alice").applies_to(&account));
    }
}
