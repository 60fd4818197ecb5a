#!/usr/bin/env python3
"""Check COSE receipts with the official CCF verifier of the installed `ccf` package.

Usage: verify_cose_receipts.py DIR
       verify_cose_receipts.py --export DIR

DIR holds service_cert.pem and either

* (first form) inclusion/: COSE receipts (*.cose) and manifest.json, as
  ledger-core/tests/interop/fixture.rs writes them (each entry names a file, the claims digest
  of its proofs and the transactions); or
* (--export) what ledger-core/examples/export_receipts.rs writes: for each committed
  transaction `<view>_<seqno>.cose` (its COSE receipt) and `<view>_<seqno>.claims_digest`
  (its claims digest, hex), beside `<view>_<seqno>.json`. The transaction id named by each
  receipt's commit evidence must be the one its file is named after.

The verifiers, called unmodified with the service certificate's public key and the claims
digest:

* ccf 6.x: ccf.cose.verify_receipt(receipt_bytes, key, claims_digest), which decodes with
  pycose;
* ccf 7.x: ccf.receipt.verify_cose(receipt_bytes, key, claims_digest), which decodes with
  cbor2 and verifies with cwt, and the deprecated ccf.cose.verify_receipt.

Every receipt must be accepted. Then every receipt is tampered with one byte at a time (the
byte XOR 0x01) in each region a verifier must check: the protected header, the signature, and
each inclusion proof, split into its leaf (write set digest, commit evidence, claims digest),
its path and the proof map's own header and keys. Every byte of some receipts is changed (the
first three in the first form; with --export the first, the last, the first and last with a
non-zero claims digest, and those with the shortest and the longest proof), a sample of bytes
per region of the others (evenly spaced in the first form; with --export drawn by a
random.Random seeded with SEED, the file and the region). Every tampered copy must be
rejected. So must every receipt checked against another key, and against another claims
digest.

Prints a summary; exits 1 if any expectation fails, 2 on bad usage or missing packages.
"""

import glob
import json
import os
import random
import re
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

FULLY_TAMPERED = 3  # receipts whose every region byte is tampered with (first form)
SAMPLES_PER_REGION = 12  # bytes tampered per region in the others
SEED = 13  # of the sampled bytes with --export


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
    """(name, start, length) of the protected header, the signature and, for each inclusion
    proof, its leaf, its path and the rest of the proof map (its header and keys)."""
    msg = cbor2.loads(receipt)
    protected, unprotected, _payload, signature = msg.value
    out = [
        ("protected header", receipt.find(protected), len(protected)),
        ("signature", receipt.rfind(signature), len(signature)),
    ]
    for proof in unprotected[396][-1]:
        start = receipt.find(proof)
        decoded = cbor2.loads(proof)
        leaf, path = cbor2.dumps(decoded[1]), cbor2.dumps(decoded[2])
        leaf_at, path_at = proof.find(leaf), proof.find(path)
        assert leaf_at > 0 and path_at > leaf_at, (leaf_at, path_at)
        out.append(("leaf", start + leaf_at, len(leaf)))
        out.append(("path", start + path_at, len(path)))
        # The proof map's header, key 1 before the leaf and key 2 before the path.
        out.append(("proof map", start, leaf_at))
        out.append(("proof map", start + leaf_at + len(leaf), path_at - leaf_at - len(leaf)))
        assert path_at + len(path) == len(proof), (path_at, len(path), len(proof))
    for name, start, length in out:
        assert start > 0 and length > 0, (name, start, length)
    return out


def positions(start, length, every, rng=None):
    """Every byte, or a sample: evenly spaced with the last, or drawn by `rng`."""
    if every or length <= SAMPLES_PER_REGION:
        return range(start, start + length)
    if rng is not None:
        return sorted(rng.sample(range(start, start + length), SAMPLES_PER_REGION))
    step = length / SAMPLES_PER_REGION
    return sorted({start + int(i * step) for i in range(SAMPLES_PER_REGION)} | {start + length - 1})


def fixture_receipts(root):
    """The receipts of the first form, and the indices of those tampered with in full."""
    with open(os.path.join(root, "inclusion", "manifest.json")) as f:
        manifest = json.load(f)
    receipts = []
    for entry in manifest:
        with open(os.path.join(root, "inclusion", entry["file"]), "rb") as f:
            receipts.append((entry, f.read()))
    files = glob.glob(os.path.join(root, "inclusion", "*.cose"))
    print(f"COSE receipts in {root}: {len(receipts)} (files: {len(files)})")
    return receipts, set(range(FULLY_TAMPERED))


def exported_receipts(root, failures):
    """The receipts export_receipts wrote, in seqno order, and the indices of those tampered
    with in full."""
    names = []
    for path in glob.glob(os.path.join(root, "*.cose")):
        name = os.path.basename(path)[: -len(".cose")]
        match = re.fullmatch(r"([0-9]+)_([0-9]+)", name)
        if not match:
            failures.append(f"unexpected file name {name}.cose")
            continue
        names.append((int(match[1]), int(match[2]), name))
    receipts = []
    for view, seqno, name in sorted(names):
        with open(os.path.join(root, name + ".cose"), "rb") as f:
            receipt = f.read()
        with open(os.path.join(root, name + ".claims_digest")) as f:
            claims = f.read()
        entry = {"file": name + ".cose", "claims_digest": claims, "tx_id": f"{view}.{seqno}"}
        receipts.append((entry, receipt))
    jsons = glob.glob(os.path.join(root, "*.json"))
    print(f"COSE receipts in {root}: {len(receipts)} (JSON receipts: {len(jsons)})")
    if len(receipts) != len(jsons) or not receipts:
        failures.append(f"{len(receipts)} COSE receipts for {len(jsons)} JSON receipts")

    named = 0
    proof_lengths = []
    for entry, receipt in receipts:
        _protected, unprotected, _payload, _signature = cbor2.loads(receipt).value
        proofs = [cbor2.loads(p) for p in unprotected[396][-1]]
        evidence = proofs[0][1][1]
        if len(proofs) == 1 and evidence.startswith(f"ce:{entry['tx_id']}:"):
            named += 1
        else:
            failures.append(f"{entry['file']} proves {evidence}")
        proof_lengths.append(len(proofs[0][2]))
    print(f"transaction ids in the commit evidence match the file names: {named}/{len(receipts)}")

    with_claims = [i for i, (e, _) in enumerate(receipts) if set(e["claims_digest"]) != {"0"}]
    print(f"receipts with a non-zero claims digest: {len(with_claims)}/{len(receipts)}")
    if not with_claims:
        failures.append("no receipt carries a non-zero claims digest")
    full = {0, len(receipts) - 1} if receipts else set()
    full |= {with_claims[0], with_claims[-1]} if with_claims else set()
    if proof_lengths:
        full.add(proof_lengths.index(min(proof_lengths)))
        full.add(proof_lengths.index(max(proof_lengths)))
    every = ", ".join(receipts[i][0]["file"] for i in sorted(full))
    print(f"every byte changed in: {every}")
    return receipts, full


def main():
    args = sys.argv[1:]
    export = args[:1] == ["--export"]
    if export:
        args = args[1:]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    root = args[0]
    with open(os.path.join(root, "service_cert.pem"), "rb") as f:
        key = load_pem_x509_certificate(f.read()).public_key()
    foreign = ec.generate_private_key(ec.SECP256R1()).public_key()
    failures = []
    if export:
        receipts, full = exported_receipts(root, failures)
    else:
        receipts, full = fixture_receipts(root)

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
                rng = random.Random(f"{SEED}:{entry['file']}:{name}:{start}") if export else None
                for pos in positions(start, length, i in full, rng):
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
