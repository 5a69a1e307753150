//! The RBAC objects of a cluster and the questions asked of them.

use std::collections::HashMap;

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use serde::Serialize;

use crate::aggregation::ClusterRoles;
use crate::danger::{Danger, DangerScope, Severity, dangers_in};
use crate::identity::{Identity, SubjectRef, SubjectView};
use crate::request::{Request, listed, rule_allows};

/// The RBAC objects of a cluster, read once.
#[derive(Debug, Clone, Default)]
pub struct RbacSnapshot {
    pub roles: Vec<Role>,
    pub cluster_roles: Vec<ClusterRole>,
    pub role_bindings: Vec<RoleBinding>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum BindingKind {
    RoleBinding,
    ClusterRoleBinding,
}

/// Which binding. Results borrow names and rules from the snapshot rather than copy them: a
/// group bound in every namespace holds thousands of grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingId<'a> {
    pub kind: BindingKind,
    /// None for a ClusterRoleBinding.
    pub namespace: Option<&'a str>,
    pub name: &'a str,
}

/// Which role a binding refers to, as its roleRef says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleId<'a> {
    /// `Role` or `ClusterRole`.
    pub kind: &'a str,
    /// A Role's namespace, which is its RoleBinding's; None for a ClusterRole.
    pub namespace: Option<&'a str>,
    pub name: &'a str,
}

/// One rule a subject holds, and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant<'a> {
    pub binding: BindingId<'a>,
    pub role: RoleId<'a>,
    /// The first entry of the binding's subjects that matched, as the authorizer reports it.
    pub subject: SubjectRef,
    /// Where the rule applies: the RoleBinding's namespace, or None for every namespace and
    /// cluster-scoped resources and non-resource URLs (a ClusterRoleBinding).
    pub namespace: Option<&'a str>,
    pub rule: &'a PolicyRule,
    /// Most severe first; empty when the rule reaches nothing dangerous.
    pub dangers: Vec<Danger>,
}

impl Grant<'_> {
    /// Whether this grant allows `request`.
    pub fn covers(&self, request: &Request) -> bool {
        let in_scope = match (self.namespace, request.binding_namespace()) {
            (None, _) => true,
            (Some(granted), Some(requested)) => granted == requested,
            (Some(_), None) => false,
        };
        in_scope && rule_allows(self.rule, request)
    }

    /// The worst of its dangers.
    pub fn severity(&self) -> Option<Severity> {
        self.dangers.iter().map(|danger| danger.severity).max()
    }
}

/// A subject allowed a request, with the binding, role and rule that allow it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder<'a> {
    pub subject: SubjectRef,
    pub binding: BindingId<'a>,
    pub role: RoleId<'a>,
    /// The RoleBinding's namespace, or None for a ClusterRoleBinding.
    pub namespace: Option<&'a str>,
    /// The first rule of the role that allows the request.
    pub rule: &'a PolicyRule,
}

/// A binding that names a subject, for revoking what it gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingRef<'a> {
    pub binding: BindingId<'a>,
    pub role: RoleId<'a>,
    /// False when the role does not exist: the binding grants nothing until one is created.
    pub role_found: bool,
    /// Positions in the binding's `subjects` of the entries naming the subject.
    pub subject_indices: Vec<usize>,
    /// Every entry names the subject, so revoking means deleting the binding rather than
    /// editing its subjects.
    pub only_subject: bool,
}

/// A RoleBinding or a ClusterRoleBinding, as far as evaluation cares.
#[derive(Clone, Copy)]
struct Binding<'a> {
    kind: BindingKind,
    /// Where it applies: the RoleBinding's namespace; None for a ClusterRoleBinding.
    namespace: Option<&'a str>,
    name: &'a str,
    role_ref: &'a RoleRef,
    subjects: &'a [Subject],
}

impl<'a> Binding<'a> {
    fn of_role_binding(binding: &'a RoleBinding) -> Binding<'a> {
        Binding {
            kind: BindingKind::RoleBinding,
            namespace: binding.metadata.namespace.as_deref(),
            name: binding.metadata.name.as_deref().unwrap_or_default(),
            role_ref: &binding.role_ref,
            subjects: binding.subjects.as_deref().unwrap_or_default(),
        }
    }

    fn of_cluster_role_binding(binding: &'a ClusterRoleBinding) -> Binding<'a> {
        Binding {
            kind: BindingKind::ClusterRoleBinding,
            namespace: None,
            name: binding.metadata.name.as_deref().unwrap_or_default(),
            role_ref: &binding.role_ref,
            subjects: binding.subjects.as_deref().unwrap_or_default(),
        }
    }

    /// A RoleBinding without a namespace is never listed for any namespace: it applies nowhere.
    fn applies_anywhere(&self) -> bool {
        self.kind == BindingKind::ClusterRoleBinding
            || self.namespace.is_some_and(|namespace| !namespace.is_empty())
    }

    /// Its subject entries, each with the subject it names, skipping those that name nobody.
    fn subjects(&self) -> impl Iterator<Item = (usize, SubjectView<'a>)> + '_ {
        self.subjects
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| Some((index, SubjectView::of_entry(entry, self.namespace)?)))
    }

    /// The first subject entry matching `who`, the one the authorizer reports.
    fn subject_for(&self, who: &Identity) -> Option<SubjectView<'a>> {
        self.subjects().map(|(_, subject)| subject).find(|subject| subject.applies_to(who))
    }

    fn id(&self) -> BindingId<'a> {
        BindingId { kind: self.kind, namespace: self.namespace, name: self.name }
    }

    fn role_id(&self) -> RoleId<'a> {
        let namespace = if self.role_ref.kind == "Role" { self.namespace } else { None };
        RoleId { kind: &self.role_ref.kind, namespace, name: &self.role_ref.name }
    }
}

/// The rules of a role: a Role's as stored, a ClusterRole's with aggregation.
enum Rules<'i, 'a> {
    Stored(&'a [PolicyRule]),
    Aggregated(&'i [&'a PolicyRule]),
}

impl<'i, 'a> Rules<'i, 'a> {
    fn iter(&self) -> Box<dyn Iterator<Item = &'a PolicyRule> + '_> {
        match self {
            Rules::Stored(rules) => Box::new(rules.iter()),
            Rules::Aggregated(rules) => Box::new(rules.iter().copied()),
        }
    }
}

/// A snapshot indexed for questions: roles by namespace and name, RoleBindings by namespace,
/// aggregated ClusterRoles resolved once. Build it with [`RbacSnapshot::index`] to ask many
/// questions of one snapshot; each method of [`RbacSnapshot`] builds one for a single question.
pub struct RbacIndex<'a> {
    snapshot: &'a RbacSnapshot,
    roles: HashMap<(&'a str, &'a str), &'a Role>,
    cluster_roles: ClusterRoles<'a>,
    role_bindings_by_namespace: HashMap<&'a str, Vec<&'a RoleBinding>>,
}

impl RbacSnapshot {
    pub fn index(&self) -> RbacIndex<'_> {
        RbacIndex::new(self)
    }

    /// Whether RBAC allows `request` for `who`: true when at least one rule of one binding
    /// matching `who` allows it.
    pub fn allows(&self, who: &Identity, request: &Request) -> bool {
        self.index().allows(who, request)
    }

    /// Every grant `who` holds, most dangerous first.
    pub fn grants(&self, who: &Identity) -> Vec<Grant<'_>> {
        self.index().grants(who)
    }

    /// The binding subjects allowed `request`.
    pub fn who_can(&self, request: &Request) -> Vec<Holder<'_>> {
        self.index().who_can(request)
    }

    /// The bindings that name `subject` directly.
    pub fn bindings_naming(&self, subject: &SubjectRef) -> Vec<BindingRef<'_>> {
        self.index().bindings_naming(subject)
    }
}

impl<'a> RbacIndex<'a> {
    pub fn new(snapshot: &'a RbacSnapshot) -> RbacIndex<'a> {
        let mut roles = HashMap::with_capacity(snapshot.roles.len());
        for role in &snapshot.roles {
            if let (Some(namespace), Some(name)) =
                (role.metadata.namespace.as_deref(), role.metadata.name.as_deref())
            {
                roles.entry((namespace, name)).or_insert(role);
            }
        }
        let mut role_bindings_by_namespace: HashMap<&str, Vec<&RoleBinding>> = HashMap::new();
        for binding in &snapshot.role_bindings {
            if let Some(namespace) = binding.metadata.namespace.as_deref() {
                role_bindings_by_namespace.entry(namespace).or_default().push(binding);
            }
        }
        RbacIndex {
            snapshot,
            roles,
            cluster_roles: ClusterRoles::new(&snapshot.cluster_roles),
            role_bindings_by_namespace,
        }
    }

    /// Every binding: ClusterRoleBindings first, as the authorizer visits them.
    fn bindings(&self) -> impl Iterator<Item = Binding<'a>> + '_ {
        let snapshot = self.snapshot;
        snapshot
            .cluster_role_bindings
            .iter()
            .map(Binding::of_cluster_role_binding)
            .chain(snapshot.role_bindings.iter().map(Binding::of_role_binding))
    }

    /// The bindings the authorizer consults for a request: every ClusterRoleBinding, and the
    /// RoleBindings of the request's namespace when it has one.
    fn bindings_for(&self, request: &Request) -> impl Iterator<Item = Binding<'a>> + '_ {
        let role_bindings = request
            .binding_namespace()
            .and_then(|namespace| self.role_bindings_by_namespace.get(namespace))
            .into_iter()
            .flatten()
            .map(|binding| Binding::of_role_binding(binding));
        self.snapshot.cluster_role_bindings.iter().map(Binding::of_cluster_role_binding).chain(role_bindings)
    }

    /// The rules of the role a binding refers to; None when it does not exist. A RoleBinding's
    /// Role is in the binding's namespace; a ClusterRoleBinding can only refer to a ClusterRole.
    fn rules_of(&self, binding: &Binding<'a>) -> Option<Rules<'_, 'a>> {
        let name = binding.role_ref.name.as_str();
        match (binding.role_ref.kind.as_str(), binding.kind) {
            ("ClusterRole", _) => self.cluster_roles.rules(name).map(Rules::Aggregated),
            ("Role", BindingKind::RoleBinding) => {
                let role = self.roles.get(&(binding.namespace?, name))?;
                Some(Rules::Stored(role.rules.as_deref().unwrap_or_default()))
            }
            _ => None,
        }
    }

    pub fn allows(&self, who: &Identity, request: &Request) -> bool {
        self.bindings_for(request).any(|binding| {
            binding.subject_for(who).is_some()
                && self
                    .rules_of(&binding)
                    .is_some_and(|rules| rules.iter().any(|rule| rule_allows(rule, request)))
        })
    }

    /// Every rule of every role bound to `who` that can allow anything where it applies, most
    /// dangerous first (cluster-wide before namespaced among equals, otherwise in binding order).
    pub fn grants(&self, who: &Identity) -> Vec<Grant<'a>> {
        // The same rules recur in many namespaces (a ClusterRole bound everywhere, a Role copied
        // into each): classify each once per kind of scope.
        let mut dangers_known: HashMap<(RuleKey<'a>, DangerScope), Vec<Danger>> = HashMap::new();
        let mut grants = Vec::new();
        for binding in self.bindings().filter(Binding::applies_anywhere) {
            let Some(subject) = binding.subject_for(who) else { continue };
            let Some(rules) = self.rules_of(&binding) else { continue };
            let subject = subject.to_subject();
            let scope = DangerScope::of(binding.namespace);
            for rule in rules.iter().filter(|rule| can_allow_anything(rule, binding.namespace)) {
                let dangers = dangers_known
                    .entry((RuleKey::of(rule), scope))
                    .or_insert_with(|| dangers_in(rule, scope))
                    .clone();
                grants.push(Grant {
                    binding: binding.id(),
                    role: binding.role_id(),
                    subject: subject.clone(),
                    namespace: binding.namespace,
                    rule,
                    dangers,
                });
            }
        }
        grants.sort_by_key(|grant| (std::cmp::Reverse(grant.severity()), grant.namespace.is_some()));
        grants
    }

    /// Each subject entry of each binding that allows `request`, with the first rule allowing it.
    pub fn who_can(&self, request: &Request) -> Vec<Holder<'a>> {
        let mut holders = Vec::new();
        for binding in self.bindings_for(request) {
            let Some(rules) = self.rules_of(&binding) else { continue };
            let Some(rule) = rules.iter().find(|rule| rule_allows(rule, request)) else { continue };
            let mut named: Vec<SubjectView<'a>> = Vec::new();
            for (_, subject) in binding.subjects() {
                // A subject listed twice in one binding holds the request once through it.
                if named.contains(&subject) {
                    continue;
                }
                named.push(subject);
                holders.push(Holder {
                    subject: subject.to_subject(),
                    binding: binding.id(),
                    role: binding.role_id(),
                    namespace: binding.namespace,
                    rule,
                });
            }
        }
        holders
    }

    /// Every binding with an entry that names `subject` itself (not a group it is in), including
    /// bindings whose role is missing. A service account is named both by a ServiceAccount entry
    /// and by a User entry with its user name: either grants it.
    pub fn bindings_naming(&self, subject: &SubjectRef) -> Vec<BindingRef<'a>> {
        let named = Identity::named_by(subject);
        self.bindings()
            .filter_map(|binding| {
                let subject_indices: Vec<usize> = binding
                    .subjects()
                    .filter(|(_, entry)| entry.applies_to(&named))
                    .map(|(index, _)| index)
                    .collect();
                if subject_indices.is_empty() {
                    return None;
                }
                Some(BindingRef {
                    binding: binding.id(),
                    role: binding.role_id(),
                    role_found: self.rules_of(&binding).is_some(),
                    only_subject: subject_indices.len() == binding.subjects.len(),
                    subject_indices,
                })
            })
            .collect()
    }
}

/// A rule's content, as a key: rules equal in content have the same dangers.
#[derive(PartialEq, Eq, Hash)]
struct RuleKey<'a>([&'a [String]; 5]);

impl<'a> RuleKey<'a> {
    fn of(rule: &'a PolicyRule) -> RuleKey<'a> {
        RuleKey([
            &rule.verbs,
            listed(&rule.api_groups),
            listed(&rule.resources),
            listed(&rule.resource_names),
            listed(&rule.non_resource_urls),
        ])
    }
}

/// Whether a rule can allow any request where it applies (`namespace` None: cluster-wide). A rule
/// without verbs allows nothing, and one without resources allows nothing through a RoleBinding,
/// which never grants non-resource URLs.
fn can_allow_anything(rule: &PolicyRule, namespace: Option<&str>) -> bool {
    let resources = !listed(&rule.api_groups).is_empty() && !listed(&rule.resources).is_empty();
    let urls = namespace.is_none() && !listed(&rule.non_resource_urls).is_empty();
    !rule.verbs.is_empty() && (resources || urls)
}

#[cfg(test)]
mod tests;
