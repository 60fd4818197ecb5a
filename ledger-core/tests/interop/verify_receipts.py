#!/usr/bin/env python3
"""Check ledger receipts with the official CCF and Azure Confidential Ledger verifiers.

Usage: verify_receipts.py [--verbose] DIR

--verbose also prints, per tampering and verifier, the distinct reasons for rejection.

DIR holds service_cert.pem and receipts as *.json (SPEC.md section 6). Every receipt must be
accepted, unmodified, by both verifiers:

* ccf (PyPI `ccf`): the leaf is recomputed from leaf_components as CCF's documentation does,
  then ccf.receipt.root, ccf.receipt.verify (signature over the root with the node
  certificate), ccf.receipt.check_endorsements (service certificate signed the node
  certificate) and ccf.receipt.check_cert_chain (X.509 path validation with pyca/cryptography's
  policy: CA flags, key usage, authority key identifier, subject alternative name, validity).
  The ccf module has no function for the node_id; the script checks it as CCF's documentation
  describes (SHA-256 of the node certificate's DER SubjectPublicKeyInfo).
* azure-confidentialledger: azure.confidentialledger.receipt.verify_receipt(receipt,
  service_cert), which checks the node_id itself.

Then every receipt is tampered with, one field at a time (each leaf component, a proof
element's digest and side, the proof's length, the signature, the certificate, the node id,
the endorsements), and both verifiers must reject every tampered copy.

Optional subdirectories:

* DIR/foreign/: service_cert.pem and receipts of another service. They must be accepted
  against their own service certificate and rejected by both verifiers against DIR's.
* DIR/expired/: receipts signed by a node of DIR's service whose certificate has expired.
  ccf's check_cert_chain must reject them; azure's verify_receipt does not look at validity
  periods, so its verdict is reported, not required.

Prints a summary; exits 1 if any expectation fails, 2 on bad usage or missing packages.
"""

import base64
import copy
import glob
import hashlib
import json
import os
import sys

try:
    import ccf.receipt
    from azure.confidentialledger.receipt import verify_receipt
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from cryptography.x509 import load_pem_x509_certificate
except ImportError as exc:  # pragma: no cover - environment problem
    print(f"missing Python package: {exc}; see requirements.txt", file=sys.stderr)
    sys.exit(2)

TOP_LEVEL_KEYS = {
    "cert",
    "node_id",
    "leaf_components",
    "proof",
    "signature",
    "service_endorsements",
}
LEAF_KEYS = {"write_set_digest", "commit_evidence", "claims_digest"}


def sha256(data):
    return hashlib.sha256(data).digest()


def verify_ccf(receipt, service_cert_pem):
    """Raise unless the ccf package's verifier accepts the receipt."""
    node_cert = load_pem_x509_certificate(receipt["cert"].encode())
    service_cert = load_pem_x509_certificate(service_cert_pem.encode())
    endorsements = [
        load_pem_x509_certificate(e.encode())
        for e in receipt.get("service_endorsements", [])
    ]
    lc = receipt["leaf_components"]
    leaf = sha256(
        bytes.fromhex(lc["write_set_digest"])
        + sha256(lc["commit_evidence"].encode())
        + bytes.fromhex(lc["claims_digest"])
    ).hex()
    root = ccf.receipt.root(leaf, receipt["proof"])
    ccf.receipt.verify(root, receipt["signature"], node_cert)
    ccf.receipt.check_endorsements(node_cert, service_cert, endorsements)
    ccf.receipt.check_cert_chain(node_cert, service_cert, endorsements)
    spki = node_cert.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    if sha256(spki).hex() != receipt["node_id"]:
        raise ValueError("node_id is not the SHA-256 of the node public key")


def verify_azure(receipt, service_cert_pem):
    """Raise unless azure-confidentialledger's verifier accepts the receipt."""
    verify_receipt(copy.deepcopy(receipt), service_cert_pem)


VERIFIERS = [("ccf", verify_ccf), ("azure", verify_azure)]


def outcome(verifier, receipt, service_cert_pem):
    """(accepted, reason) for one verifier on one receipt."""
    try:
        verifier(receipt, service_cert_pem)
        return True, ""
    except Exception as exc:  # any exception is a rejection
        reason = type(exc).__name__
        message = str(exc).splitlines()[0] if str(exc) else ""
        # azure wraps the failing step's exception; its message names the step.
        if exc.__cause__ is not None:
            reason += f" ({message.split(' ')[4] if message.startswith('Encountered exception when') else message[:60]})"
            reason += f" <- {type(exc.__cause__).__name__}"
            message = str(exc.__cause__).splitlines()[0] if str(exc.__cause__) else ""
        return False, f"{reason}: {message[:80]}" if message else reason


def flip_hex(s, index=-1):
    """Change one hex digit of s."""
    i = index % len(s)
    c = "1" if s[i] == "0" else "0"
    return s[:i] + c + s[i + 1 :]


def flip_base64_char(s, index):
    """Change one base64 character of s (keeping it base64)."""
    c = "A" if s[index] != "A" else "B"
    return s[:index] + c + s[index + 1 :]


def tamper_signature_byte(r):
    sig = bytearray(base64.b64decode(r["signature"]))
    sig[len(sig) // 2] ^= 0x01
    r["signature"] = base64.b64encode(bytes(sig)).decode()


def tamper_cert_body(r):
    lines = r["cert"].split("\n")
    body = [i for i, line in enumerate(lines) if line and not line.startswith("-----")]
    i = body[len(body) // 2]
    lines[i] = flip_base64_char(lines[i], len(lines[i]) // 2)
    r["cert"] = "\n".join(lines)


def set_node_id_from_cert(r):
    cert = load_pem_x509_certificate(r["cert"].encode())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    r["node_id"] = sha256(spki).hex()


def tamperings(receipt, others, service_cert_pem, foreign_receipts):
    """(name, tampered copy) pairs for one receipt."""

    def edit(fn):
        r = copy.deepcopy(receipt)
        fn(r)
        return r

    def set_leaf(key, value):
        return lambda r: r["leaf_components"].__setitem__(key, value)

    lc = receipt["leaf_components"]
    prefix, txid, nonce = lc["commit_evidence"].split(":")
    view, seqno = txid.split(".")
    first = receipt["proof"][0]
    (side, digest), = first.items()
    other_side = "right" if side == "left" else "left"

    cases = [
        ("write_set_digest", set_leaf("write_set_digest", flip_hex(lc["write_set_digest"]))),
        ("claims_digest", set_leaf("claims_digest", flip_hex(lc["claims_digest"]))),
        ("commit_evidence nonce", set_leaf("commit_evidence", flip_hex(lc["commit_evidence"]))),
        (
            "commit_evidence seqno",
            set_leaf("commit_evidence", f"{prefix}:{view}.{int(seqno) + 1}:{nonce}"),
        ),
        ("proof digest", lambda r: r["proof"].__setitem__(0, {side: flip_hex(digest, 0)})),
        ("proof side", lambda r: r["proof"].__setitem__(0, {other_side: digest})),
        ("proof truncated", lambda r: r["proof"].pop()),
        ("proof extended", lambda r: r["proof"].append(copy.deepcopy(r["proof"][-1]))),
        ("signature byte", tamper_signature_byte),
        ("cert byte", tamper_cert_body),
        ("node_id", lambda r: r.__setitem__("node_id", flip_hex(r["node_id"], 0))),
        (
            "cert is the service cert",
            lambda r: (r.__setitem__("cert", service_cert_pem), set_node_id_from_cert(r)),
        ),
        (
            "endorsement added",
            lambda r: r["service_endorsements"].append(r["cert"]),
        ),
    ]
    other = next((o for o in others if o["signature"] != receipt["signature"]), None)
    if other is not None:
        cases.append(
            ("signature of another root", lambda r: r.__setitem__("signature", other["signature"]))
        )
    if foreign_receipts:
        foreign = foreign_receipts[0]
        cases.append(
            (
                "cert and node_id of another service's node",
                lambda r: (
                    r.__setitem__("cert", foreign["cert"]),
                    r.__setitem__("node_id", foreign["node_id"]),
                ),
            )
        )
    return [(name, edit(fn)) for name, fn in cases]


def load_dir(path):
    with open(os.path.join(path, "service_cert.pem")) as f:
        service_cert = f.read()
    receipts = []
    for name in sorted(glob.glob(os.path.join(path, "*.json"))):
        with open(name) as f:
            receipts.append((os.path.basename(name), json.load(f)))
    return service_cert, receipts


def shape_problems(receipt):
    """Deviations from SPEC.md section 6's JSON shape."""
    problems = []
    if set(receipt) != TOP_LEVEL_KEYS:
        problems.append(f"top-level keys {sorted(receipt)}")
    if set(receipt.get("leaf_components", {})) != LEAF_KEYS:
        problems.append("leaf_components keys")
    for element in receipt.get("proof", []):
        if len(element) != 1 or next(iter(element)) not in ("left", "right"):
            problems.append(f"proof element {element}")
    return problems


class Tally:
    def __init__(self):
        self.failures = []
        self.counts = {}
        self.reasons = {}

    def expect(self, category, verifier, accepted, want_accept, label, reason):
        if not accepted:
            kind = label.rsplit("[", 1)[-1].rstrip("]") if "[" in label else category
            self.reasons.setdefault((kind, verifier), set()).add(reason[:100])
        key = (category, verifier)
        good, total = self.counts.get(key, (0, 0))
        ok = accepted == want_accept
        self.counts[key] = (good + ok, total + 1)
        if not ok:
            verdict = "accepted" if accepted else f"rejected ({reason})"
            self.failures.append(f"{category}: {verifier} {verdict} {label}")


def main():
    args = sys.argv[1:]
    verbose = "--verbose" in args
    args = [a for a in args if a != "--verbose"]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    root = args[0]
    service_cert, receipts = load_dir(root)
    if not receipts:
        print(f"no receipts in {root}", file=sys.stderr)
        return 1
    foreign_cert, foreign = (None, [])
    if os.path.isdir(os.path.join(root, "foreign")):
        foreign_cert, foreign = load_dir(os.path.join(root, "foreign"))
    expired = []
    if os.path.isdir(os.path.join(root, "expired")):
        expired = [
            r for r in sorted(glob.glob(os.path.join(root, "expired", "*.json")))
        ]
        expired = [(os.path.basename(p), json.load(open(p))) for p in expired]

    tally = Tally()
    info = []
    all_receipts = [r for _, r in receipts]
    for name, receipt in receipts:
        for problem in shape_problems(receipt):
            tally.failures.append(f"shape: {name}: {problem}")
        for vname, verifier in VERIFIERS:
            accepted, reason = outcome(verifier, receipt, service_cert)
            tally.expect("valid receipts accepted", vname, accepted, True, name, reason)
        for tname, tampered in tamperings(
            receipt, all_receipts, service_cert, [r for _, r in foreign]
        ):
            for vname, verifier in VERIFIERS:
                accepted, reason = outcome(verifier, tampered, service_cert)
                tally.expect(
                    "tampered receipts rejected", vname, accepted, False, f"{name} [{tname}]", reason
                )
    for name, receipt in foreign:
        for vname, verifier in VERIFIERS:
            accepted, reason = outcome(verifier, receipt, foreign_cert)
            tally.expect("foreign receipts accepted by their service", vname, accepted, True, name, reason)
            accepted, reason = outcome(verifier, receipt, service_cert)
            tally.expect("foreign receipts rejected by this service", vname, accepted, False, name, reason)
    for name, receipt in expired:
        accepted, reason = outcome(verify_ccf, receipt, service_cert)
        tally.expect("expired node certificate rejected", "ccf", accepted, False, name, reason)
        accepted, reason = outcome(verify_azure, receipt, service_cert)
        info.append(
            f"expired node certificate {name}: azure verify_receipt "
            + ("accepted it (it does not check validity periods)" if accepted else f"rejected it ({reason})")
        )

    print(f"receipts in {root}: {len(receipts)} (+{len(foreign)} foreign, +{len(expired)} expired)")
    for (category, verifier), (good, total) in sorted(tally.counts.items()):
        print(f"  {verifier}: {category}: {good}/{total}")
    if verbose:
        for (kind, verifier), reasons in sorted(tally.reasons.items()):
            for reason in sorted(reasons):
                print(f"  rejected [{kind}] by {verifier}: {reason}")
    for line in sorted(set(info)):
        print(f"  note: {line}")
    if tally.failures:
        print(f"FAILED: {len(tally.failures)} expectation(s) not met", file=sys.stderr)
        for failure in tally.failures[:50]:
            print(f"  {failure}", file=sys.stderr)
        return 1
    print("OK: every expectation met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
