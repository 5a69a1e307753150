//! Asking before changing: a command whose changes (and their proof) are not all allowed makes
//! none of them, and says which are missing.

use kir_cluster::{Cluster, probe::AccessCheck};

use crate::{Error, Result};

/// `Ok` when the API server's authorizer allows every check (SelfSubjectAccessReview);
/// otherwise an error naming each denied request and how to get the RBAC of `command` (as
/// `kir doctor --rbac` takes it).
pub(crate) async fn refuse_unless_allowed(
    cluster: &Cluster,
    checks: &[AccessCheck],
    command: &str,
) -> Result<()> {
    let denied: Vec<String> =
        cluster.can_i(checks).await?.into_iter().filter(|d| !d.allowed).map(|d| d.check.describe()).collect();
    if denied.is_empty() {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "forbidden: you may not {} (SelfSubjectAccessReview); nothing was changed: grant it, or run kir doctor \
         --rbac {command} for the permissions the command needs",
        denied.join(", ")
    )))
}
