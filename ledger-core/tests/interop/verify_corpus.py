#!/usr/bin/env python3
"""Run the official azure-confidentialledger verifier on the corpus of served receipts.

Usage: verify_corpus.py CORPUS_DIR

CORPUS_DIR holds cases.json (see ledger-core/tests/receipts-corpus/README.md). For each
receipt case, `verify_receipt(receipt, service_cert, application_claims=claims)` is called
the way the SDK's own sample (samples/get_and_verify_receipt.py) calls it: when the file is
the get-receipt REST response, its "receipt" member is verified with its "applicationClaims".
For each claims case, `compute_claims_digest(claims)` is called.

Prints one line per case, which ledger-core/tests/receipts_corpus.rs compares with its own
verdicts:

    case NAME: accepted
    case NAME: rejected (ExceptionType: message)
    claims NAME: digest HEX
    claims NAME: error (ExceptionType: message)

Exits 0 once every case has run (whatever the verdicts), 2 on bad usage or missing packages.
"""

import json
import os
import sys

try:
    from azure.confidentialledger.receipt import compute_claims_digest, verify_receipt
except ImportError as exc:  # pragma: no cover - environment problem
    print(f"missing Python package: {exc}; see requirements.txt", file=sys.stderr)
    sys.exit(2)


def reason(exc):
    text = str(exc).splitlines()[0] if str(exc) else ""
    cause = exc.__cause__
    if cause is not None:
        cause_text = str(cause).splitlines()[0] if str(cause) else ""
        return f"{type(exc).__name__} <- {type(cause).__name__}: {cause_text[:100]}"
    return f"{type(exc).__name__}: {text[:100]}"


def load(corpus, relative, parse_json):
    if relative is None:
        return None
    with open(os.path.join(corpus, relative), newline="") as f:
        return json.load(f) if parse_json else f.read()


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    corpus = sys.argv[1]
    with open(os.path.join(corpus, "cases.json")) as f:
        manifest = json.load(f)
    for case in manifest["cases"]:
        document = load(corpus, case["receipt"], True)
        service_cert = load(corpus, case["service_cert"], False)
        claims = load(corpus, case["application_claims"], True)
        receipt = document
        if isinstance(document, dict) and isinstance(document.get("receipt"), dict):
            receipt = document["receipt"]
            claims = document.get("applicationClaims", claims)
        try:
            verify_receipt(receipt, service_cert, application_claims=claims)
            print(f"case {case['name']}: accepted")
        except Exception as exc:  # any exception is a rejection
            print(f"case {case['name']}: rejected ({reason(exc)})")
    for case in manifest["claims_cases"]:
        claims = load(corpus, case["claims"], True)
        try:
            print(f"claims {case['name']}: digest {compute_claims_digest(claims)}")
        except Exception as exc:  # any exception is a refusal
            print(f"claims {case['name']}: error ({reason(exc)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
