//! Lists kir uses in more than one place, defined once. Rules name them as placeholders
//! (`process.name|expand: '%miner_process_names%'`), and other crates import them (the
//! snapshot findings of kir-respond look for the same miners and pools as the runtime rules).

use serde_json::Value;

/// Executable names of cryptominers (lower case).
pub const MINER_PROCESS_NAMES: &[&str] = &[
    "xmrig",
    "xmr-stak",
    "xmr-stak-cpu",
    "minerd",
    "cpuminer",
    "cpuminer-multi",
    "ccminer",
    "cgminer",
    "bfgminer",
    "ethminer",
    "nbminer",
    "t-rex",
    "teamredminer",
    "lolminer",
    "phoenixminer",
    "nanominer",
    "gminer",
    "srbminer",
    "srbminer-multi",
    "kdevtmpfsi",
    "kinsing",
];

/// Command-line fragments only mining software uses (lower case): pool URLs and miner options.
pub const MINER_ARGUMENTS: &[&str] = &[
    "stratum+tcp://",
    "stratum+ssl://",
    "stratum2+tcp://",
    "stratum2+ssl://",
    "--donate-level",
    "--cpu-max-threads-hint",
    "--coin=",
    "cryptonight",
    "randomx",
];

/// Remote ports mining pools (stratum) listen on. Ports that ordinary services use as well
/// (25, 80, 443, 8000, 8080, 8118, 8888, 9999) are left out: a connection to them says nothing.
pub const MINING_POOL_PORTS: &[u16] = &[
    3333, 3334, 3335, 3336, 3357, 4444, 5555, 5556, 5588, 5730, 6099, 6666, 7777, 7778, 8333, 8899, 9332,
    14433, 14444, 45560, 45700,
];

/// Parts of the host names of mining pools (lower case).
pub const MINING_POOL_HOST_PARTS: &[&str] = &[
    "pool.",
    ".pool",
    "nanopool",
    "minexmr",
    "supportxmr",
    "moneroocean",
    "hashvault",
    "nicehash",
    "f2pool",
    "2miners",
    "ethermine",
    "herominers",
];

/// Namespaces that belong to the cluster or its cloud provider, not to its workloads:
/// Kubernetes' own, and those GKE, AKS and EKS create for their managed components.
pub const SYSTEM_NAMESPACES: &[&str] = &[
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "gke-managed-system",
    "gke-managed-cim",
    "gke-gmp-system",
    "gke-connect",
    "gmp-system",
    "gmp-public",
    "aks-command",
    "amazon-cloudwatch",
    "amazon-guardduty",
    "aws-observability",
];

/// Registries of the images of Kubernetes' and the cloud providers' own components (prefixes).
pub const SYSTEM_IMAGE_REGISTRIES: &[&str] = &[
    "registry.k8s.io/",
    "k8s.gcr.io/",
    "gke.gcr.io/",
    "mcr.microsoft.com/oss/kubernetes/",
    "mcr.microsoft.com/aks/",
    "602401143452.dkr.ecr.",
];

/// The control plane's own identities (exact user names).
pub const CONTROL_PLANE_USERS: &[&str] =
    &["system:apiserver", "system:kube-controller-manager", "system:kube-scheduler"];

/// Whether `user` is the control plane, a node, or a service account of a system namespace:
/// identities whose credentials are used from a few fixed places.
pub fn is_system_identity(user: &str) -> bool {
    CONTROL_PLANE_USERS.contains(&user)
        || user.starts_with("system:kube-")
        || user.starts_with("system:node:")
        || user.strip_prefix("system:serviceaccount:").is_some_and(|rest| {
            rest.split_once(':').is_some_and(|(namespace, _)| SYSTEM_NAMESPACES.contains(&namespace))
        })
}

/// The placeholders rules may expand, each with its list.
pub const PLACEHOLDERS: &[&str] = &[
    "miner_process_names",
    "miner_arguments",
    "mining_pool_ports",
    "mining_pool_host_parts",
    "system_namespaces",
    "system_image_registries",
    "control_plane_users",
];

/// The values of placeholder `%name%`.
pub fn expand(placeholder: &str) -> Option<Vec<Value>> {
    let strings = |list: &[&str]| list.iter().map(|s| Value::String(s.to_string())).collect();
    let name = placeholder.strip_prefix('%')?.strip_suffix('%')?;
    Some(match name {
        "miner_process_names" => strings(MINER_PROCESS_NAMES),
        "miner_arguments" => strings(MINER_ARGUMENTS),
        "mining_pool_ports" => MINING_POOL_PORTS.iter().map(|p| Value::from(*p)).collect(),
        "mining_pool_host_parts" => strings(MINING_POOL_HOST_PARTS),
        "system_namespaces" => strings(SYSTEM_NAMESPACES),
        "system_image_registries" => strings(SYSTEM_IMAGE_REGISTRIES),
        "control_plane_users" => strings(CONTROL_PLANE_USERS),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_expands_and_lists_are_lower_case() {
        for name in PLACEHOLDERS {
            assert!(expand(&format!("%{name}%")).is_some_and(|v| !v.is_empty()), "{name}");
        }
        assert!(expand("%nothing%").is_none() && expand("miner_process_names").is_none());
        for list in [MINER_PROCESS_NAMES, MINER_ARGUMENTS, MINING_POOL_HOST_PARTS, SYSTEM_NAMESPACES] {
            assert!(list.iter().all(|s| *s == s.to_lowercase()), "{list:?}");
        }
    }

    #[test]
    fn system_identities() {
        for user in [
            "system:kube-controller-manager",
            "system:kube-proxy",
            "system:node:n1",
            "system:serviceaccount:kube-system:coredns",
            "system:serviceaccount:kube-node-lease:x",
            "system:serviceaccount:gke-managed-system:agent",
        ] {
            assert!(is_system_identity(user), "{user}");
        }
        for user in [
            "alice",
            "system:serviceaccount:prod:web",
            "system:anonymous",
            "system:serviceaccount:kube-systemx:a",
        ] {
            assert!(!is_system_identity(user), "{user}");
        }
    }
}
