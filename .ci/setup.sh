#!/usr/bin/env bash
# Installs what building and testing the workspace needs, if it is missing:
#  - clang and libclang (bindgen for the rocksdb crate's C++ build),
#  - SoftHSM2 (the PKCS#11 token the ledger-hsm tests run against),
#  - the official Python receipt verifiers used by the interoperability test: ccf 6.x and
#    azure-confidentialledger for python3, and ccf 7.x (which needs Python 3.12) in a virtual
#    environment of its own, $LEDGER_CCF7_VENV (default /var/tmp/ledger-ccf7-venv),
#  - the pyscitt transparent-statement verifier in another one, $LEDGER_SCITT_VENV (default
#    /var/tmp/ledger-scitt-venv),
#  - schemathesis (ledger-server's OpenAPI conformance test) in a third, $LEDGER_SCHEMATHESIS_VENV
#    (default /var/tmp/ledger-schemathesis-venv).
# Safe to run repeatedly; does nothing when everything is present at the pinned versions.
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

# Whether python $1 has every `name==version` of requirements file $2 installed.
pins_met() {
  "$1" - "$2" >/dev/null 2>&1 <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version

for line in open(sys.argv[1]):
    name, _, want = line.split("#")[0].strip().partition("==")
    if not name:
        continue
    try:
        if version(name.strip()) != want.strip():
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}

req="$root/ledger-core/tests/interop/requirements.txt"
if [ -f "$req" ] && command -v python3 >/dev/null 2>&1; then
  if ! python3 -c 'import ccf.receipt, ccf.cose, azure.confidentialledger.receipt' >/dev/null 2>&1 \
    || ! pins_met python3 "$req"; then
    echo "setup: installing the Python receipt verifiers ($req)"
    python3 -m pip install --quiet --disable-pip-version-check -r "$req"
  fi
fi

# A Python 3.12 or later: a pyenv-installed one, or python3.12 on PATH (empty if none).
python312() {
  for candidate in "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 "$(command -v python3.12 || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      echo "$candidate"
      return
    fi
  done
}

# Makes virtual environment $2 with python $3 (if it does not exist) and installs the pins of
# requirements file $4 into it (if they are not all met); $1 names what it holds.
venv_with() {
  local what="$1" venv="$2" python="$3" reqs="$4"
  [ -f "$reqs" ] || return 0
  if [ ! -x "$venv/bin/python3" ]; then
    if [ -z "$python" ]; then
      echo "setup: no suitable Python found; $what is not installed" >&2
      return 0
    fi
    echo "setup: creating the virtual environment $venv for $what with $python"
    "$python" -m venv "$venv"
  fi
  if ! pins_met "$venv/bin/python3" "$reqs"; then
    echo "setup: installing $what into $venv ($reqs)"
    "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check -r "$reqs"
  fi
}

py312="$(python312)"
# ccf 7.x needs Python 3.12 or later.
venv_with "the ccf 7.x receipt verifier" "${LEDGER_CCF7_VENV:-/var/tmp/ledger-ccf7-venv}" \
  "$py312" "$root/ledger-core/tests/interop/requirements-ccf7.txt"
# pyscitt (the SCITT transparent-statement verifier) pins ccf 7.x, pycose and jwcrypto, so it
# gets a virtual environment of its own, with the same Python 3.12 or later.
venv_with "the pyscitt verifier" "${LEDGER_SCITT_VENV:-/var/tmp/ledger-scitt-venv}" \
  "$py312" "$root/ledger-core/tests/interop/requirements-scitt.txt"
# schemathesis (ledger-server's OpenAPI conformance test) in a virtual environment of its own,
# $LEDGER_SCHEMATHESIS_VENV (default /var/tmp/ledger-schemathesis-venv): its pins (hypothesis,
# jsonschema, requests) need not agree with the receipt verifiers'. Python 3.9 or later.
venv_with "schemathesis" "${LEDGER_SCHEMATHESIS_VENV:-/var/tmp/ledger-schemathesis-venv}" \
  "$(command -v python3 || true)" "$root/ledger-server/tests/schemathesis/requirements.txt"
