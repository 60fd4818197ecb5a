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

# ccf 7.x needs Python 3.12 or later: a pyenv-installed one, or python3.12 on PATH.
req7="$root/ledger-core/tests/interop/requirements-ccf7.txt"
venv7="${LEDGER_CCF7_VENV:-/var/tmp/ledger-ccf7-venv}"
if [ -f "$req7" ]; then
  if [ ! -x "$venv7/bin/python3" ]; then
    py312=""
    for candidate in "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 "$(command -v python3.12 || true)"; do
      if [ -n "$candidate" ] && [ -x "$candidate" ] \
        && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
        py312="$candidate"
        break
      fi
    done
    if [ -n "$py312" ]; then
      echo "setup: creating the ccf 7.x virtual environment $venv7 with $py312"
      "$py312" -m venv "$venv7"
    else
      echo "setup: no Python 3.12 or later found; the ccf 7.x receipt verifier is not installed" >&2
    fi
  fi
  if [ -x "$venv7/bin/python3" ] && ! pins_met "$venv7/bin/python3" "$req7"; then
    echo "setup: installing the ccf 7.x receipt verifier into $venv7 ($req7)"
    "$venv7/bin/python3" -m pip install --quiet --disable-pip-version-check -r "$req7"
  fi
fi

# pyscitt (the SCITT transparent-statement verifier) pins ccf 7.x, pycose and jwcrypto, so it
# gets a virtual environment of its own, $LEDGER_SCITT_VENV (default /var/tmp/ledger-scitt-venv),
# with the same Python 3.12 or later.
reqs="$root/ledger-core/tests/interop/requirements-scitt.txt"
venvs="${LEDGER_SCITT_VENV:-/var/tmp/ledger-scitt-venv}"
if [ -f "$reqs" ]; then
  if [ ! -x "$venvs/bin/python3" ]; then
    py312=""
    for candidate in "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 "$(command -v python3.12 || true)"; do
      if [ -n "$candidate" ] && [ -x "$candidate" ] \
        && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
        py312="$candidate"
        break
      fi
    done
    if [ -n "$py312" ]; then
      echo "setup: creating the pyscitt virtual environment $venvs with $py312"
      "$py312" -m venv "$venvs"
    else
      echo "setup: no Python 3.12 or later found; the pyscitt verifier is not installed" >&2
    fi
  fi
  if [ -x "$venvs/bin/python3" ] && ! pins_met "$venvs/bin/python3" "$reqs"; then
    echo "setup: installing the pyscitt verifier into $venvs ($reqs)"
    "$venvs/bin/python3" -m pip install --quiet --disable-pip-version-check -r "$reqs"
  fi
fi

# schemathesis (ledger-server's OpenAPI conformance test) in a virtual environment of its own,
# $LEDGER_SCHEMATHESIS_VENV (default /var/tmp/ledger-schemathesis-venv): its pins (hypothesis,
# jsonschema, requests) need not agree with the receipt verifiers'. Python 3.9 or later.
reqst="$root/ledger-server/tests/schemathesis/requirements.txt"
venvst="${LEDGER_SCHEMATHESIS_VENV:-/var/tmp/ledger-schemathesis-venv}"
if [ -f "$reqst" ] && command -v python3 >/dev/null 2>&1; then
  if [ ! -x "$venvst/bin/python3" ]; then
    echo "setup: creating the schemathesis virtual environment $venvst"
    python3 -m venv "$venvst"
  fi
  if ! pins_met "$venvst/bin/python3" "$reqst"; then
    echo "setup: installing schemathesis into $venvst ($reqst)"
    "$venvst/bin/python3" -m pip install --quiet --disable-pip-version-check -r "$reqst"
  fi
fi
