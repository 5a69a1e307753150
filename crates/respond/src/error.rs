use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a response step could not be done. Per-artifact problems are not errors: they are
/// recorded in the case as "not collected" and the step goes on.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Cluster(#[from] kir_cluster::Error),

    #[error("case: {0}")]
    Case(#[from] kir_evidence::Error),

    #[error(
        "pod {namespace}/{name} not found: check the name and namespace (kubectl get pods -n {namespace})"
    )]
    PodNotFound { namespace: String, name: String },

    #[error("container {container:?} is not in pod {pod} (containers: {available})")]
    NoSuchContainer { pod: String, container: String, available: String },

    #[error("{0}")]
    Invalid(String),

    /// A step's task ended without an answer (it panicked); the other steps went on.
    #[error("the {step} step stopped unexpectedly: {detail}")]
    Task { step: &'static str, detail: String },
}

impl Error {
    pub(crate) fn task(step: &'static str, error: &tokio::task::JoinError) -> Error {
        Error::Task { step, detail: error.to_string() }
    }

    /// Map a 404 of the pod itself to the error that names it.
    pub(crate) fn pod_lookup(error: kir_cluster::Error, namespace: &str, name: &str) -> Error {
        match error {
            kir_cluster::Error::NotFound { .. } => {
                Error::PodNotFound { namespace: namespace.to_string(), name: name.to_string() }
            }
            other => Error::Cluster(other),
        }
    }
}
