#!/usr/bin/env python3
"""Rebuild this corpus from the azure-confidentialledger source distribution.

Usage:
    python3 -m pip download azure-confidentialledger==1.1.1 --no-binary :all: --no-deps -d /tmp/acl
    (cd /tmp/acl && unzip -q azure-confidentialledger-1.1.1.zip)
    python3 extract.py /tmp/acl/azure-confidentialledger-1.1.1

Reads the receipts, service certificates and application claims of the SDK's unit tests
(tests/receipt/), and writes, beside this script:

* certs/*.pem, receipts/*.json, claims/*.json: the inputs, byte for byte as the tests hand
  them to `verify_receipt` / `compute_claims_digest` (Python None becomes JSON null, the
  tests' dataclass values become the dictionaries `dataclasses.asdict` gives);
* cases.json: one entry per published test case (and the few derived cases the README
  lists), with the verdict the test asserts.

The tests are imported with a stand-in for pytest that only records each test's
`parametrize` arguments, so every parameter set the sdist publishes is taken, in order.
Needs the `azure-confidentialledger` package installed (the tests import its models).
"""

import copy
import dataclasses
import importlib
import inspect
import json
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
SDIST = "azure-confidentialledger 1.1.1"


def install_pytest_stand_in():
    """A `pytest` module whose parametrize decorator records its arguments."""

    class Mark:
        @staticmethod
        def parametrize(names, values):
            def record(fn):
                fn.parameters = ([n.strip() for n in names.split(",")], values)
                return fn

            return record

    stand_in = types.ModuleType("pytest")
    stand_in.mark = Mark()
    sys.modules["pytest"] = stand_in


def plain(value):
    """The JSON value the SDK sees: dataclasses as dictionaries, the rest as is."""
    if dataclasses.is_dataclass(value):
        return {k: plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def node_cert_not_before(receipt):
    from cryptography.x509 import load_pem_x509_certificate

    cert = load_pem_x509_certificate(receipt["cert"].encode())
    return int(cert.not_valid_before_utc.timestamp())


class Corpus:
    def __init__(self):
        self.files = {}
        self.cases = []
        self.claims_cases = []

    def file(self, path, content):
        if path in self.files and self.files[path] != content:
            raise SystemExit(f"two different contents for {path}")
        self.files[path] = content
        return path

    def json_file(self, path, value):
        return self.file(path, json.dumps(value, indent=2) + "\n")

    def case(self, name, origin, receipt, cert, expected, at, claims=None, note=None):
        entry = {
            "name": name,
            "origin": origin,
            "receipt": self.json_file(f"receipts/{name}.json", receipt),
            "service_cert": cert,
            "application_claims": None,
            "at": at,
            "expected": expected,
        }
        if claims is not None:
            entry["application_claims"] = self.json_file(f"claims/{name}.json", claims)
        if note:
            entry["note"] = note
        self.cases.append(entry)

    def claims_case(self, name, origin, claims, expected):
        self.claims_cases.append(
            {
                "name": name,
                "origin": origin,
                "claims": self.json_file(f"claims/{name}.json", claims),
                "expected": expected,
            }
        )

    def write(self):
        for path, content in self.files.items():
            full = os.path.join(HERE, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w", newline="") as f:
                f.write(content)
        manifest = {
            "source": SDIST,
            "cases": self.cases,
            "claims_cases": self.claims_cases,
        }
        with open(os.path.join(HERE, "cases.json"), "w") as f:
            f.write(json.dumps(manifest, indent=2) + "\n")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    sdist = os.path.abspath(sys.argv[1])
    sys.path.insert(0, sdist)
    install_pytest_stand_in()
    rc = importlib.import_module("tests.receipt._shared.receipt_constants")
    cc = importlib.import_module("tests.receipt._shared.claims_constants")
    tv = importlib.import_module("tests.receipt.test_receipt_verification")
    tc = importlib.import_module("tests.receipt.test_claims_digest_computation")
    verification = "tests/receipt/test_receipt_verification.py"
    computation = "tests/receipt/test_claims_digest_computation.py"

    corpus = Corpus()
    cert_files = {}

    def cert(pem, name):
        if pem is None:
            return None
        if pem not in cert_files:
            cert_files[pem] = corpus.file(f"certs/{name}.pem", pem)
        return cert_files[pem]

    service_1 = rc.get_test_valid_service_certificate_1()
    service_2 = rc.get_test_valid_service_certificate_2()
    cert(service_1, "service-1-p256")
    cert(service_2, "service-2-p256")
    base = rc.get_test_valid_receipt_1_dict()
    base_at = node_cert_not_before(base) + 86400

    def at_of(receipt):
        try:
            return node_cert_not_before(receipt) + 86400
        except Exception:  # an invalid certificate: the base receipt's time
            return base_at

    # Valid receipts with their service certificates.
    names, values = tv.test_receipt_verification_with_valid_receipt_returns_successfully.parameters
    for i, (receipt, service) in enumerate(values):
        style = "snake" if "leaf_components" in receipt else "camel"
        corpus.case(
            f"valid-{i + 1}-p256-{style}",
            f"{verification}::test_receipt_verification_with_valid_receipt_returns_successfully[{i}]",
            plain(receipt),
            cert(service, f"service-{i + 1}-p256"),
            "accept",
            at_of(receipt),
        )

    # Receipt 1 with one field replaced: (test, key the test sets, or None when the value
    # is the service certificate).
    edits = [
        ("test_receipt_verification_with_invalid_leaf_components_throws_exception", "leafComponents"),
        ("test_receipt_verification_with_invalid_node_cert_throws_exception", "cert"),
        ("test_receipt_verification_with_invalid_node_id_throws_exception", "node_id"),
        ("test_receipt_verification_with_invalid_proof_list_throws_exception", "proof"),
        ("test_receipt_verification_with_invalid_service_endorsements_throws_exception", "service_endorsements"),
        ("test_receipt_verification_with_invalid_signature_throws_exception", "signature"),
        ("test_receipt_verification_with_invalid_service_cert_throws_exception", None),
        ("test_receipt_verification_with_unknown_service_cert_throws_exception", None),
        ("test_receipt_verification_with_unknown_node_cert_throws_exception", "cert"),
        ("test_receipt_verification_with_unknown_service_endorsements_throws_exception", "service_endorsements"),
        ("test_receipt_verification_with_unknown_leaf_components_throws_exception", "leafComponents"),
        ("test_receipt_verification_with_unknown_proof_list_throws_exception", "proof"),
    ]
    for test, key in edits:
        fn = getattr(tv, test)
        source = inspect.getsource(fn)
        if key is not None and f'receipt["{key}"] = ' not in source:
            raise SystemExit(f"{test} no longer sets {key}; update extract.py")
        _, values = fn.parameters
        short = test.removeprefix("test_receipt_verification_with_").removesuffix("_throws_exception")
        for i, value in enumerate(values):
            receipt = rc.get_test_valid_receipt_1_dict()
            service = cert(service_1, "service-1-p256")
            if key is None:
                if value is None:
                    service = None
                elif value == "invalid_cert_string":
                    service = cert(value, "not-a-certificate")
                else:
                    service = cert(value, "service-2-p256")
            else:
                receipt[key] = value
            corpus.case(
                f"{short.replace('_', '-')}-{i}",
                f"{verification}::{test}[{i}]",
                plain(receipt),
                service,
                "reject",
                base_at,
            )

    for test, key in [
        ("test_receipt_verification_with_missing_node_id_does_not_throw_exception", "node_id"),
        (
            "test_receipt_verification_with_missing_service_endorsements_does_not_throw_exception",
            "service_endorsements",
        ),
    ]:
        source = inspect.getsource(getattr(tv, test))
        if f'del receipt["{key}"]' not in source:
            raise SystemExit(f"{test} no longer deletes {key}; update extract.py")
        receipt = rc.get_test_valid_receipt_1_dict()
        del receipt[key]
        short = test.removeprefix("test_receipt_verification_with_").removesuffix(
            "_does_not_throw_exception"
        )
        corpus.case(
            short.replace("_", "-"),
            f"{verification}::{test}",
            plain(receipt),
            cert(service_1, "service-1-p256"),
            "accept",
            base_at,
        )

    for test, expected in [
        ("test_receipt_verification_with_valid_application_claims_returns_successfully", "accept"),
        ("test_receipt_verification_with_invalid_application_claims_throws_exception", "reject"),
    ]:
        _, values = getattr(tv, test).parameters
        for i, (receipt, service, claims) in enumerate(values):
            p384 = "MHYwEAYHKoZIzj0CAQYFK4EEACID" in service
            curve = "p384" if p384 else "p256"
            corpus.case(
                f"claims-{expected}ed-{i}-{curve}",
                f"{verification}::{test}[{i}]",
                plain(receipt),
                cert(service, "service-3-p384" if p384 else f"service-{i + 1}-p256"),
                expected,
                at_of(receipt),
                claims=plain(claims),
            )

    # Derived cases (README, "Derived cases"): the forms the REST API serves.
    p384_receipt, p384_service, ledger_entry = (
        getattr(tv, "test_receipt_verification_with_valid_application_claims_returns_successfully").parameters[1][0]
    )
    derived = "derived from " + verification
    corpus.case(
        "served-envelope-p384-claims",
        f"{derived}::test_receipt_verification_with_valid_application_claims_returns_successfully[0]",
        {
            "applicationClaims": plain(ledger_entry),
            "receipt": plain(p384_receipt),
            "state": "Ready",
            "transactionId": "2.13",
        },
        cert(p384_service, "service-3-p384"),
        "accept",
        at_of(p384_receipt),
        note="the get-receipt REST response around the receipt and claims of that case",
    )
    corpus.case(
        "served-envelope-2022-snake",
        f"{derived}::test_receipt_verification_with_valid_receipt_returns_successfully[0]",
        {"receipt": plain(base), "state": "Ready", "transactionId": "2.35"},
        cert(service_1, "service-1-p256"),
        "accept",
        base_at,
        note="the get-receipt REST response (api-version 2022-05-13) around that receipt",
    )
    corpus.case(
        "service-cert-trailing-nul",
        f"{derived}::test_receipt_verification_with_valid_receipt_returns_successfully[0]",
        plain(base),
        cert(service_1 + "\u0000", "service-1-p256-trailing-nul"),
        "accept",
        base_at,
        note="the service certificate followed by a NUL byte, as a served one was reported to arrive",
    )
    tampered = copy.deepcopy(plain(p384_receipt))
    tampered["leafComponents"]["claimsDigest"] = "00" * 32
    corpus.case(
        "p384-claims-digest-zeroed",
        f"{derived}::test_receipt_verification_with_valid_application_claims_returns_successfully[0]",
        tampered,
        cert(p384_service, "service-3-p384"),
        "reject",
        at_of(p384_receipt),
        note="the P-384 receipt with its claims digest replaced by zeros",
    )
    corpus.case(
        "p384-receipt-p256-service",
        f"{derived}::test_receipt_verification_with_valid_application_claims_returns_successfully[0]",
        plain(p384_receipt),
        cert(service_1, "service-1-p256"),
        "reject",
        at_of(p384_receipt),
        note="the P-384 receipt checked against another service's (P-256) certificate",
    )

    # compute_claims_digest on its own.
    def claims_cases(test, expected, edit=None):
        names, values = getattr(tc, test).parameters
        short = test.removeprefix("test_claims_digest_computation_with_")
        for suffix in ("_returns_successfully", "_throws_exception", "_does_not_throw_exception"):
            short = short.removesuffix(suffix)
        for i, value in enumerate(values):
            if len(names) == 1:
                claims = copy.deepcopy(value)
            else:
                replacement, claims = copy.deepcopy(value)
                edit(claims, replacement)
            corpus.claims_case(
                f"compute-{short.replace('_', '-')}-{i}",
                f"{computation}::{test}[{i}]",
                plain(claims),
                expected,
            )

    claims_cases("test_claims_digest_computation_with_valid_claims_returns_successfully", "digest")
    claims_cases("test_claims_digest_computation_with_invalid_claim_throws_exception", "error")
    claims_cases(
        "test_claims_digest_computation_with_invalid_kind_throws_exception",
        "error",
        lambda c, v: c[0].__setitem__("kind", v),
    )
    claims_cases(
        "test_claims_digest_computation_with_invalid_ledger_entry_claim_throws_exception",
        "error",
        lambda c, v: c[0].__setitem__("ledgerEntry", v),
    )
    claims_cases(
        "test_claims_digest_computation_with_invalid_ledger_entry_claim_protocol_throws_exception",
        "error",
        lambda c, v: c[0]["ledgerEntry"].__setitem__("protocol", v),
    )
    claims_cases(
        "test_claims_digest_computation_with_invalid_ledger_entry_claim_secret_key_throws_exception",
        "error",
        lambda c, v: c[0]["ledgerEntry"].__setitem__("secretKey", v),
    )
    claims_cases(
        "test_claims_digest_computation_with_invalid_digest_claim_throws_exception",
        "error",
        lambda c, v: c[0].__setitem__("digest", v),
    )
    claims_cases(
        "test_claims_digest_computation_with_unknown_digest_claim_protocol_does_not_throw_exception",
        "digest",
        lambda c, v: c[0]["digest"].__setitem__("protocol", v),
    )
    del cc  # imported for the tests' own imports to resolve the same way
    corpus.write()
    print(f"{len(corpus.cases)} receipt cases, {len(corpus.claims_cases)} claims cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
