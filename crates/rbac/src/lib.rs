//! RBAC evaluated from objects already read, the way the API server's RBAC authorizer decides:
//! what a subject may do ([`RbacSnapshot::grants`], [`RbacSnapshot::allows`]), who may do
//! something ([`RbacSnapshot::who_can`]), and which bindings to edit to take a subject's access
//! away ([`RbacSnapshot::bindings_naming`]). No I/O: the caller reads Roles, ClusterRoles and
//! their bindings and hands them over in an [`RbacSnapshot`].
//!
//! # Semantics (those of Kubernetes' RBAC authorizer)
//!
//! - **Where bindings apply.** A ClusterRoleBinding applies everywhere: in every namespace, to
//!   cluster-scoped resources and to non-resource URLs. It refers to a ClusterRole; a Role
//!   reference grants nothing. A RoleBinding applies only in its own namespace, to a Role of that
//!   namespace or to a ClusterRole (whose rules then hold only there). A request without a
//!   namespace (a cluster-scoped resource, a list across namespaces) or for a non-resource URL is
//!   therefore allowed by ClusterRoleBindings alone.
//! - **Subjects.** A `User` entry matches the user name, a `Group` entry one of the groups, a
//!   `ServiceAccount` entry the user name `system:serviceaccount:NS:NAME`. A ServiceAccount entry
//!   without a namespace takes the RoleBinding's; in a ClusterRoleBinding it matches no one.
//!   Entries of other kinds match no one; `apiGroup` is not consulted. Groups come from the
//!   authenticator, so an [`Identity`] carries them: `system:authenticated` for every user,
//!   `system:serviceaccounts` and `system:serviceaccounts:NS` for service accounts.
//! - **Rules.** A rule allows a resource request when the verb (or `*`), the API group (or `*`),
//!   the resource and the name match. Resources are `*` (all, subresources included), `NAME`,
//!   `NAME/SUB` or `*/SUB`; `NAME` does not cover `NAME/SUB`. With `resourceNames`, the request
//!   must name one of them, so list, watch of a collection and create are never allowed by such a
//!   rule. A non-resource URL matches `*`, the same URL, or a pattern ending in `*` as a prefix.
//! - **Missing roles** grant nothing; their bindings are still listed for revocation.
//! - **Aggregation.** A ClusterRole with an `aggregationRule` holds its stored rules plus those of
//!   every ClusterRole its selectors reach, through other aggregated roles too, as the
//!   aggregation controller settles them: it copies the stored rules of the roles selected, and
//!   those may be aggregated themselves (`admin` selects `edit`, which selects `view`).
//!
//! Dangerous reach (reading secrets, running pods, exec, binding roles, impersonation, ...) is
//! classified per rule and scope by [`danger()`].
//!
//! The snapshot's objects are indexed once per question; for many questions of one snapshot,
//! build an [`RbacIndex`] with [`RbacSnapshot::index`].

mod aggregation;
mod danger;
mod identity;
mod request;
mod snapshot;

pub use danger::{Danger, DangerKind, Severity, danger};
pub use identity::{AUTHENTICATED_GROUP, Identity, ParseError, ParseProblem, SubjectRef};
pub use request::{Request, rule_allows};
pub use snapshot::{BindingId, BindingKind, BindingRef, Grant, Holder, RbacIndex, RbacSnapshot, RoleId};
