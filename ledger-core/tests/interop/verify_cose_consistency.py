#!/usr/bin/env python3
"""An independent checker of CCF consistency receipts, written from the draft.

Usage: verify_cose_consistency.py DIR

Follows draft-ietf-scitt-receipts-ccf-profile, section 4 ("CCF Consistency Proofs") and
section 5, in the working group's text of 21 September 2026 (revision -05 appeared days
later):

    ccf-consistency-proof = bstr .cbor {
      &(anchor: 1) => bstr .size 32
      &(path: 2) => [+ ccf-proof-element]      ; [left: bool, hash: bstr .size 32]
    }

    compute_roots(proof):
      older := newer := proof.anchor
      for [left, hash] in proof.path:
        if left: older := HASH(hash + older); newer := HASH(hash + newer)
        else:    newer := HASH(newer + hash)
      return older, newer

    verify_consistency_receipt(receipt, older_root):
      proofs := receipt.unprotected_header[396][-2], non-empty; payload nil
      for proof in proofs:
        older, newer := compute_roots(proof)
        if older == older_root: return verify_cose(receipt, newer)
      return false

verify_cose is RFC 9052's COSE_Sign1 verification (tag 18; Sig_structure ["Signature1",
protected, h'', payload]) with the newer root as the detached payload, here ES256 with the
service certificate's key; the protected header must carry alg -7, vds (395) = 2 and a kid
equal to the lowercase hex SHA-256 of the key's DER SubjectPublicKeyInfo, as the CCF
verifiers check. It uses only cbor2, hashlib and cryptography, none of this project's code.

First the checker checks itself against the draft repository's sample consistency proofs
(samples/consistency-proofs/EDN.md: leaf i = SHA-256(56 zero bytes || uint64 big-endian i),
node = SHA-256(left || right)), recomputing the roots with a naive Merkle Tree Hash. Then
DIR (service_cert.pem and consistency/ with *.cose and manifest.json, as
ledger-core/tests/interop/fixture.rs writes them) is checked: every receipt must verify
against its older root; against another older root, another key, and with any byte of its
protected header, signature or proofs changed, it must not.

Prints a summary; exits 1 if any expectation fails, 2 on bad usage or missing packages.
"""

import hashlib
import json
import os
import sys

try:
    import cbor2
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from cryptography.x509 import load_pem_x509_certificate
except ImportError as exc:  # pragma: no cover - environment problem
    print(f"missing Python package: {exc}; see requirements.txt", file=sys.stderr)
    sys.exit(2)

VDS, VDP, CONSISTENCY = 395, 396, -2
CCF_LEDGER_SHA256 = 2
ES256 = -7


def H(data):
    return hashlib.sha256(data).digest()


def compute_roots(proof):
    older = newer = proof[1]
    for left, digest in proof[2]:
        if left:
            older = H(digest + older)
            newer = H(digest + newer)
        else:
            newer = H(newer + digest)
    return older, newer


def decode_proof(wrapped):
    """A ccf-consistency-proof: bstr .cbor {1: bstr .size 32, 2: [+ [bool, bstr .size 32]]}."""
    if not isinstance(wrapped, bytes):
        raise ValueError("a consistency proof must be a bstr")
    proof = cbor2.loads(wrapped)
    if not isinstance(proof, dict) or set(proof) != {1, 2}:
        raise ValueError("a consistency proof is a map with exactly the keys 1 and 2")
    anchor, path = proof[1], proof[2]
    if not isinstance(anchor, bytes) or len(anchor) != 32:
        raise ValueError("anchor must be 32 bytes")
    if not isinstance(path, list) or not path:
        raise ValueError("path must be a non-empty array")
    for element in path:
        if (
            not isinstance(element, list)
            or len(element) != 2
            or not isinstance(element[0], bool)
            or not isinstance(element[1], bytes)
            or len(element[1]) != 32
        ):
            raise ValueError("a path element is [bool, bstr .size 32]")
    return proof


def kid_of(key):
    spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return H(spki).hex().encode()


def verify_cose(message, key, payload):
    protected_bytes, _unprotected, detached, signature = message.value
    if detached is not None:
        raise ValueError("the payload must be detached")
    tbs = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    if len(signature) != 64:
        raise ValueError("an ES256 signature is 64 bytes")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        key.verify(der, tbs, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def verify_consistency_receipt(receipt, key, older_root):
    message = cbor2.loads(receipt)
    if not isinstance(message, cbor2.CBORTag) or message.tag != 18:
        raise ValueError("not a tagged COSE_Sign1")
    if not isinstance(message.value, list) or len(message.value) != 4:
        raise ValueError("a COSE_Sign1 is an array of 4")
    protected = cbor2.loads(message.value[0])
    if protected.get(1) != ES256:
        raise ValueError("alg must be ES256")
    if protected.get(VDS) != CCF_LEDGER_SHA256:
        raise ValueError("vds must be CCF_LEDGER_SHA256 (2)")
    if protected.get(4) != kid_of(key):
        raise ValueError("kid is not the key's")
    proofs = message.value[1][VDP][CONSISTENCY]
    if not isinstance(proofs, list) or not proofs:
        raise ValueError("at least one consistency proof is required")
    for wrapped in proofs:
        older, newer = compute_roots(decode_proof(wrapped))
        if older == older_root:
            return verify_cose(message, key, newer)
    return False


def accepts(receipt, key, older_root):
    try:
        return verify_consistency_receipt(receipt, key, older_root) is True
    except Exception:  # malformed input is a rejection
        return False


def mth(leaves):
    """Merkle Tree Hash of the draft (section 2.1) over leaves given as hashes."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return H(mth(leaves[:k]) + mth(leaves[k:]))


# From the draft repository's samples/consistency-proofs/EDN.md: (m, n, anchor, [(left, hash)]).
SAMPLES = [
    (5, 6, "517B7AF2368FE450DB775DB95CC0745D9FFA7CB26CE7D5922BA01EC50A2C7000", [
        (False, "C6481E22C5FF4164AF680B8CFAA5E8ED3120EEFF89C4F307C4A6FAAAE059CE10"),
        (True, "917D53D54C2EA71ABBB239E95F4A002B7C06045DCDDED26D09D049FC1CAC327E"),
    ]),
    (7, 8, "DEB2A27A00DBC46E3A59096A8D07D2B97F950158886411FF6A9C9AB9623DADA6", [
        (False, "2EBE6807995C988B9D292B535A81546078D93D753A42BF8D15DDCAF2D84BE200"),
        (True, "1FFFDAB121C558B9E312CFCE60E611B890B80A390F2E0A2E3FF720A263082C0D"),
        (True, "917D53D54C2EA71ABBB239E95F4A002B7C06045DCDDED26D09D049FC1CAC327E"),
    ]),
    (37, 45, "3FC11D6395C9523ED435BE2308CDA768C845AC31D578642CA227E3DAFF43F1F0", [
        (False, "DEE35ED77BE4C0721874FF7747012D75C426CBBCB84E38D5DB19B2CC67BEC2FA"),
        (False, "3578C695FF7FF56CAED4BBE5AAB8F38CC7995A3B1494EB87F74ADB9408E8FDCE"),
        (True, "FE1735DD9314F17F626B19E11757CD431F30742519DDC4C74D75AF97F00EDCE4"),
        (False, "298BBE1C3AB5B5ED3B1E03037358542BF7C4D56B873ACF5756595786AAD12D29"),
        (True, "602DAFD6BA158727CAD23C516C57CD6341C9248C0FA20E6CEF515FD1732FA209"),
    ]),
]


def self_test():
    leaves = [H(bytes(56) + i.to_bytes(8, "big")) for i in range(64)]
    passed = 0
    for m, n, anchor, path in SAMPLES:
        proof = {1: bytes.fromhex(anchor), 2: [[l, bytes.fromhex(h)] for l, h in path]}
        proof = decode_proof(cbor2.dumps(proof))
        if compute_roots(proof) == (mth(leaves[:m]), mth(leaves[:n])):
            passed += 1
    print(f"draft samples: roots recomputed: {passed}/{len(SAMPLES)}")
    return passed == len(SAMPLES)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    failures = []
    if not self_test():
        failures.append("the checker disagrees with the draft's samples")
    root = sys.argv[1]
    with open(os.path.join(root, "service_cert.pem"), "rb") as f:
        key = load_pem_x509_certificate(f.read()).public_key()
    foreign = ec.generate_private_key(ec.SECP256R1()).public_key()
    with open(os.path.join(root, "consistency", "manifest.json")) as f:
        manifest = json.load(f)
    accepted = other_root = other_key = tampered = rejected = 0
    for i, entry in enumerate(manifest):
        with open(os.path.join(root, "consistency", entry["file"]), "rb") as f:
            receipt = f.read()
        older_root = bytes.fromhex(entry["old_root"])
        if accepts(receipt, key, older_root):
            accepted += 1
        else:
            failures.append(f"rejects genuine {entry['file']}")
        wrong = bytearray(older_root)
        wrong[0] ^= 0x01
        other_root += not accepts(receipt, key, bytes(wrong))
        other_key += not accepts(receipt, foreign, older_root)
        message = cbor2.loads(receipt)
        spans = [message.value[0], message.value[3]] + message.value[1][VDP][CONSISTENCY]
        for span in spans:
            start = receipt.find(span) if span is not message.value[3] else receipt.rfind(span)
            step = 1 if i < 2 else max(1, len(span) // 8)
            for pos in range(start, start + len(span), step):
                copy = bytearray(receipt)
                copy[pos] ^= 0x01
                tampered += 1
                if accepts(bytes(copy), key, older_root):
                    failures.append(f"accepts {entry['file']} with byte {pos} changed")
                else:
                    rejected += 1
    n = len(manifest)
    print(f"consistency receipts in {root}: {n}")
    print(f"consistency receipts accepted: {accepted}/{n}")
    print(f"another older root rejected: {other_root}/{n}")
    print(f"another key rejected: {other_key}/{n}")
    print(f"tampered receipts rejected: {rejected}/{tampered}")
    if other_root != n or other_key != n:
        failures.append("a receipt verifies against another older root or key")
    for failure in failures[:40]:
        print(f"FAIL: {failure}")
    if failures or n == 0:
        print(f"FAILED: {len(failures)} expectations not met")
        return 1
    print("OK: every expectation met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
