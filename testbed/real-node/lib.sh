# shellcheck shell=bash disable=SC2034 # settings for the scripts that source this file
# Shared settings of the real-node scripts. Sourced after testbed/lib.sh, not run.

log() { echo "testbed/real-node/$(basename "$0"): $*" >&2; }

NODE_NAME=real-node-0
NODE_CACHE="$CACHE/real-node"
NODE_BIN="$NODE_CACHE/bin"
# The images start imports into the node's containerd (<cache>/real-node/images/NAME.tar).
NODE_IMAGES=(pause canary shell)
NODE_DIR="$STATE/$NODE_NAME"

# One node per state directory. Its host-side names (veth, cgroup, link network) derive from the
# state directory, so that testbeds with other state directories never collide.
node_id() { printf '%s' "$STATE" | sha256sum | cut -c1-6; }
node_names() {
  local id
  id="$(node_id)"
  VETH_HOST="kr${id}h"
  VETH_NODE="kr${id}n"
  CGROUP="kir-testbed-$id"
  # A /30 link between the host and the node: 10.234.X.1 (host) and 10.234.X.2 (the node's IP).
  # X derives from the state directory too, but 256 values collide: start takes the next free
  # one when another testbed holds it, and records the one it took for the other scripts.
  local x=$((16#${id:0:2})) recorded
  if [[ -f "$NODE_DIR/link-network" ]]; then
    recorded="$(<"$NODE_DIR/link-network")"
    [[ "$recorded" =~ ^[0-9]{1,3}$ && "$recorded" -le 255 ]] && x="$recorded"
  fi
  link_network "$x"
}
link_network() {
  HOST_IP="10.234.$1.1"
  NODE_IP="10.234.$1.2"
}
# Whether 10.234.X.1 is an address of this host.
link_network_taken() { ip -4 -o addr show | grep -q " 10.234.$1.1/"; }

# The cgroup v1 hierarchies of this machine (one mount point each), or the unified v2 mount.
cgroup_mounts() { findmnt -rn -t cgroup,cgroup2 -o TARGET; }
