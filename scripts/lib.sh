# Shared by scripts/*: install what is missing on a fresh Debian machine. Sourced, not run.

say() { echo "==> $*" >&2; }

# apt packages the testbed and the tests need; installed only when missing.
ensure_packages() {
  local missing=()
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  command -v python3 >/dev/null || missing+=(python3)
  command -v setsid >/dev/null || missing+=(util-linux)
  command -v jq >/dev/null || missing+=(jq)
  command -v zstd >/dev/null || missing+=(zstd)
  command -v chromium >/dev/null || missing+=(chromium)
  # The testbed's real node: namespaces, its veth pair, cgo for runc, the helper image.
  command -v ip >/dev/null || missing+=(iproute2)
  command -v findmnt >/dev/null || missing+=(util-linux)
  command -v gcc >/dev/null || missing+=(gcc)
  command -v strip >/dev/null || missing+=(binutils)
  if [[ ${#missing[@]} -gt 0 ]]; then
    say "installing ${missing[*]}"
    local sudo=()
    [[ "$(id -u)" == 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

ensure_toolchains() {
  command -v cargo >/dev/null || { echo "cargo is missing: install Rust (https://rustup.rs), version 1.95 or newer" >&2; exit 1; }
  command -v go >/dev/null || { echo "go is missing: install Go 1.26 or newer (needed to build the testbed)" >&2; exit 1; }
  if command -v rustup >/dev/null; then
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
  fi
}
