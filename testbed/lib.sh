# Shared settings of the testbed scripts. Sourced, not run.

KIR_TESTBED_K8S_VERSION="${KIR_TESTBED_K8S_VERSION:-v1.36.3}"
KIR_TESTBED_KWOK_VERSION="${KIR_TESTBED_KWOK_VERSION:-v0.8.0}"
# crane (github.com/google/go-containerregistry/cmd/crane): the testbed's image registry and the
# client testbed/push-image pushes with.
KIR_TESTBED_CRANE_VERSION="${KIR_TESTBED_CRANE_VERSION:-v0.22.1}"
# trivy (github.com/aquasecurity/trivy/cmd/trivy): the scanner `kir image scan` runs. Its tests use
# the secret scanner, which needs no vulnerability database (that one needs the internet).
KIR_TESTBED_TRIVY_VERSION="${KIR_TESTBED_TRIVY_VERSION:-v0.74.0}"
TESTBED_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${KIR_TESTBED_CACHE:-$HOME/.cache/kir/testbed/$KIR_TESTBED_K8S_VERSION}"
BIN="$CACHE/bin"
# One running testbed per state directory; tests may start their own beside the default one.
STATE="${KIR_TESTBED_STATE:-$HOME/.cache/kir/testbed/state/default}"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl)

# crane and trivy have stamps of their own, so that a new version of one (or a cache from before
# it) builds only that tool, never the control plane again.
tool_up_to_date() { # NAME VERSION
  [[ -x "$BIN/$1" && "$(cat "$CACHE/$1-stamp" 2>/dev/null)" == "$2" ]]
}
crane_up_to_date() { tool_up_to_date crane "$KIR_TESTBED_CRANE_VERSION"; }
trivy_up_to_date() { tool_up_to_date trivy "$KIR_TESTBED_TRIVY_VERSION"; }

log() { echo "testbed/$(basename "$0"): $*" >&2; }
die() { log "error: $*"; exit 1; }

# The real node (KIR_TESTBED_REAL_NODE=1; testbed/real-node/): built only when asked for.
KIR_TESTBED_CONTAINERD_VERSION="${KIR_TESTBED_CONTAINERD_VERSION:-v2.4.2}"
KIR_TESTBED_RUNC_VERSION="${KIR_TESTBED_RUNC_VERSION:-v1.5.3}"
KIR_TESTBED_CNI_PLUGINS_VERSION="${KIR_TESTBED_CNI_PLUGINS_VERSION:-v1.10.0}"
# checkpointctl: the reference `kir checkpoint inspect` is checked against, on the same archives.
KIR_TESTBED_CHECKPOINTCTL_VERSION="${KIR_TESTBED_CHECKPOINTCTL_VERSION:-v1.6.0}"
# CRIU and busybox come from this Debian release's packages (Debian 12's CRIU 3.17 cannot dump on
# a 6.18 kernel); they are unpacked into the cache, never installed.
KIR_TESTBED_NODE_DEBIAN_SUITE="${KIR_TESTBED_NODE_DEBIAN_SUITE:-trixie}"
real_node_wanted() { [[ "${KIR_TESTBED_REAL_NODE:-0}" == 1 ]]; }
