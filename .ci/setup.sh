#!/usr/bin/env bash
# Installs what building and testing the workspace needs, if it is missing:
#  - clang and libclang (bindgen for the rocksdb crate's C++ build),
#  - SoftHSM2 (the PKCS#11 token the ledger-hsm tests run against),
#  - the official Python receipt verifiers used by the interoperability test.
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v clang >/dev/null 2>&1 || ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1; then
  echo "setup: installing clang and libclang (needed to build RocksDB)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-dev >/dev/null
fi

if ! command -v softhsm2-util >/dev/null 2>&1; then
  echo "setup: installing softhsm2 (the PKCS#11 token ledger-hsm is tested against)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is not on PATH; install Rust (rustup) first" >&2
  exit 1
fi

req="$root/ledger-core/tests/interop/requirements.txt"
if [ -f "$req" ] && command -v python3 >/dev/null 2>&1; then
  if ! python3 -c 'import ccf.receipt, azure.confidentialledger.receipt' >/dev/null 2>&1; then
    echo "setup: installing the Python receipt verifiers ($req)"
    python3 -m pip install --quiet --disable-pip-version-check -r "$req"
  fi
fi
