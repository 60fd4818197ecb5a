#!/usr/bin/env python3
"""Check COSE receipts with the official CCF verifier of the installed `ccf` package.

Usage: verify_cose_receipts.py DIR

DIR holds service_cert.pem and inclusion/: COSE receipts (*.cose) and manifest.json, as
ledger-core/tests/interop/fixture.rs writes them (each entry names a file, the claims digest
of its proofs and the transactions). The verifiers, called unmodified with the service
certificate's public key and the claims digest:

* ccf 6.x: ccf.cose.verify_receipt(receipt_bytes, key, claims_digest), which decodes with
  pycose;
* ccf 7.x: ccf.receipt.verify_cose(receipt_bytes, key, claims_digest), which decodes with
  cbor2 and verifies with cwt, and the deprecated ccf.cose.verify_receipt.

Every receipt must be accepted. Then every receipt is tampered with one byte at a time in each
region a verifier must check (the protected header, the signature, each inclusion proof with
its leaf components and path): every byte of the first receipts, a sample of bytes of the
others; every tampered copy must be rejected. So must every receipt checked against another
key, and against another claims digest.

Prints a summary; exits 1 if any expectation fails, 2 on bad usage or missing packages.
"""

import glob
import json
import os
import sys
import warnings

try:
    from importlib import import_module
    from importlib.metadata import version

    import cbor2
    import ccf.cose
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509 import load_pem_x509_certificate
except ImportError as exc:  # pragma: no cover - environment problem
    print(f"missing Python package: {exc}; see requirements*.txt", file=sys.stderr)
    sys.exit(2)

FULLY_TAMPERED = 3  # receipts whose every region byte is tampered with
SAMPLES_PER_REGION = 12  # bytes tampered per region in the others


def verifiers():
    """(label, function) for each official COSE receipt verifier of the installed ccf."""
    ccf_version = version("ccf")
    found = []
    if ccf_version.split(".")[0] == "6":
        found.append((f"ccf {ccf_version} ccf.cose.verify_receipt", ccf.cose.verify_receipt))
    else:
        receipt_module = import_module("ccf.receipt")
        found.append((f"ccf {ccf_version} ccf.receipt.verify_cose", receipt_module.verify_cose))

        def deprecated(receipt, key, claims):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                return ccf.cose.verify_receipt(receipt, key, claims)

        found.append((f"ccf {ccf_version} ccf.cose.verify_receipt", deprecated))
    return found


def accepts(verify, receipt, key, claims):
    try:
        verify(receipt, key, claims)
        return True
    except Exception:  # any exception (or failed assert) is a rejection
        return False


def regions(receipt):
    """(name, start, length) of the protected header, the signature and each proof."""
    msg = cbor2.loads(receipt)
    protected, unprotected, _payload, signature = msg.value
    out = [
        ("protected header", receipt.find(protected), len(protected)),
        ("signature", receipt.rfind(signature), len(signature)),
    ]
    for proof in unprotected[396][-1]:
        out.append(("inclusion proof", receipt.find(proof), len(proof)))
    for name, start, length in out:
        assert start > 0 and length > 0, (name, start, length)
    return out


def positions(start, length, every):
    if every or length <= SAMPLES_PER_REGION:
        return range(start, start + length)
    step = length / SAMPLES_PER_REGION
    return sorted({start + int(i * step) for i in range(SAMPLES_PER_REGION)} | {start + length - 1})


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = sys.argv[1]
    with open(os.path.join(root, "service_cert.pem"), "rb") as f:
        key = load_pem_x509_certificate(f.read()).public_key()
    foreign = ec.generate_private_key(ec.SECP256R1()).public_key()
    with open(os.path.join(root, "inclusion", "manifest.json")) as f:
        manifest = json.load(f)
    receipts = []
    for entry in manifest:
        with open(os.path.join(root, "inclusion", entry["file"]), "rb") as f:
            receipts.append((entry, f.read()))
    files = glob.glob(os.path.join(root, "inclusion", "*.cose"))
    print(f"COSE receipts in {root}: {len(receipts)} (files: {len(files)})")

    failures = []
    for label, verify in verifiers():
        accepted = 0
        for entry, receipt in receipts:
            claims = bytes.fromhex(entry["claims_digest"])
            if accepts(verify, receipt, key, claims):
                accepted += 1
            else:
                failures.append(f"{label}: rejects genuine {entry['file']}")
        print(f"{label}: valid receipts accepted: {accepted}/{len(receipts)}")

        tampered = rejected = 0
        by_region = {}
        for i, (entry, receipt) in enumerate(receipts):
            claims = bytes.fromhex(entry["claims_digest"])
            for name, start, length in regions(receipt):
                for pos in positions(start, length, i < FULLY_TAMPERED):
                    copy = bytearray(receipt)
                    copy[pos] ^= 0x01
                    tampered += 1
                    by_region.setdefault(name, [0, 0])[0] += 1
                    if accepts(verify, bytes(copy), key, claims):
                        failures.append(f"{label}: accepts {entry['file']} with byte {pos} ({name}) changed")
                    else:
                        rejected += 1
                        by_region[name][1] += 1
        detail = ", ".join(f"{n} {r}/{t}" for n, (t, r) in sorted(by_region.items()))
        print(f"{label}: tampered receipts rejected: {rejected}/{tampered} ({detail})")

        foreign_rejected = sum(
            not accepts(verify, r, foreign, bytes.fromhex(e["claims_digest"])) for e, r in receipts
        )
        print(f"{label}: another key rejected: {foreign_rejected}/{len(receipts)}")
        if foreign_rejected != len(receipts):
            failures.append(f"{label}: accepts receipts under another key")

        wrong_claims = 0
        for entry, receipt in receipts:
            claims = bytearray(bytes.fromhex(entry["claims_digest"]))
            claims[0] ^= 0x01
            wrong_claims += not accepts(verify, receipt, key, bytes(claims))
        print(f"{label}: another claims digest rejected: {wrong_claims}/{len(receipts)}")
        if wrong_claims != len(receipts):
            failures.append(f"{label}: accepts receipts under another claims digest")

    for failure in failures[:40]:
        print(f"FAIL: {failure}")
    if failures:
        print(f"FAILED: {len(failures)} expectations not met")
        return 1
    print("OK: every expectation met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
