# Shared settings of the testbed scripts. Sourced, not run.

KIR_TESTBED_K8S_VERSION="${KIR_TESTBED_K8S_VERSION:-v1.36.3}"
KIR_TESTBED_KWOK_VERSION="${KIR_TESTBED_KWOK_VERSION:-v0.8.0}"
# crane (github.com/google/go-containerregistry/cmd/crane): the testbed's image registry and the
# client testbed/push-image pushes with.
KIR_TESTBED_CRANE_VERSION="${KIR_TESTBED_CRANE_VERSION:-v0.22.1}"
TESTBED_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${KIR_TESTBED_CACHE:-$HOME/.cache/kir/testbed/$KIR_TESTBED_K8S_VERSION}"
BIN="$CACHE/bin"
# One running testbed per state directory; tests may start their own beside the default one.
STATE="${KIR_TESTBED_STATE:-$HOME/.cache/kir/testbed/state/default}"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl)

# crane has a stamp of its own, so that a new crane version (or a cache from before crane) builds
# only crane, never the control plane again.
crane_up_to_date() {
  [[ -x "$BIN/crane" && "$(cat "$CACHE/crane-stamp" 2>/dev/null)" == "$KIR_TESTBED_CRANE_VERSION" ]]
}

log() { echo "testbed/$(basename "$0"): $*" >&2; }
die() { log "error: $*"; exit 1; }
