# Shared settings of the testbed scripts. Sourced, not run.

KIR_TESTBED_K8S_VERSION="${KIR_TESTBED_K8S_VERSION:-v1.36.3}"
KIR_TESTBED_KWOK_VERSION="${KIR_TESTBED_KWOK_VERSION:-v0.8.0}"
TESTBED_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${KIR_TESTBED_CACHE:-$HOME/.cache/kir/testbed/$KIR_TESTBED_K8S_VERSION}"
BIN="$CACHE/bin"
# One running testbed per state directory; tests may start their own beside the default one.
STATE="${KIR_TESTBED_STATE:-$HOME/.cache/kir/testbed/state/default}"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl)

log() { echo "testbed/$(basename "$0"): $*" >&2; }
die() { log "error: $*"; exit 1; }
