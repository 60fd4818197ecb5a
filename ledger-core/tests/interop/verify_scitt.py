"""Checks transparent statements from ledger-core with the official pyscitt verifier.

Usage: verify_scitt.py DIR

DIR holds service_cert.pem and, per statement NAME, NAME.statement (the signed statement as
submitted), NAME.transparent (the transparent statement the ledger returned) and NAME.txid
(its registering transaction). Run by ledger-core/tests/scitt.rs with the Python of the
pyscitt virtual environment (tests/interop/requirements-scitt.txt).

Every transparent statement must pass both of pyscitt's entry points:
  * pyscitt.verify.verify_transparent_statement(transparent, StaticTrustStore(service cert),
    submitted statement): the trust store finds the service key by the receipt's kid (hex
    SHA-256 of the key's SubjectPublicKeyInfo), ccf.cose.verify_receipt checks the receipt
    (kid, vds = 2, the inclusion proof's claims digest = SHA-256 of the statement, the ES256
    signature over the recomputed root); the registration txid it reports must be NAME.txid;
  * pyscitt.cli.validate.validate_transparent_statement(path, trust store dir, offline=True):
    the same, with the statement recovered by stripping the unprotected header, as
    `scitt validate --offline` does.
Every copy with one bit flipped (every byte of one statement, a stride of the others) must be
rejected by the second, which hashes the statement as it stands. Exits non-zero on any
failure and prints one line per check.
"""

import base64
import json
import sys
import tempfile
import warnings
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import load_pem_x509_certificate
from pyscitt.cli.validate import strip_uhdr, validate_transparent_statement
from pyscitt.verify import StaticTrustStore, verify_transparent_statement

warnings.simplefilter("ignore", DeprecationWarning)


def rejected(store, transparent: bytes) -> bool:
    try:
        verify_transparent_statement(transparent, store, strip_uhdr(transparent))
    except Exception:  # pylint: disable=broad-except
        return True
    return False


def main(root: Path) -> int:
    cert = load_pem_x509_certificate((root / "service_cert.pem").read_bytes())
    der = cert.public_bytes(Encoding.DER)
    store = StaticTrustStore(certificates=[der])
    trust_dir = Path(tempfile.mkdtemp())
    (trust_dir / "service.json").write_text(
        json.dumps({"serviceCertificate": base64.b64encode(der).decode("ascii")})
    )
    failures = 0
    accepted = 0
    names = sorted(p.stem for p in root.glob("*.transparent"))
    for i, name in enumerate(names):
        transparent = (root / f"{name}.transparent").read_bytes()
        statement = (root / f"{name}.statement").read_bytes()
        txid = (root / f"{name}.txid").read_text().strip()
        try:
            details = verify_transparent_statement(transparent, store, statement)
            assert len(details) == 1, details
            assert details[0]["regtxid"] == txid, (details, txid)
            assert details[0]["sigtxid"], details
            result = validate_transparent_statement(
                root / f"{name}.transparent", trust_dir, offline=True
            )
            assert result["transparent"], result
            assert result["receipts"][0]["registration_txid"] == txid, result
            print(
                f"{name}: accepted (registered {txid}, signed "
                f"{details[0]['sigtxid']}, issuer {details[0]['iss']})"
            )
            accepted += 1
        except Exception as e:  # pylint: disable=broad-except
            print(f"{name}: REJECTED: {e!r}")
            failures += 1
            continue
        step = 1 if i == 0 else 7
        flips = 0
        for at in range(0, len(transparent), step):
            t = bytearray(transparent)
            t[at] ^= 0x01
            flips += 1
            if not rejected(store, bytes(t)):
                print(f"{name}: a copy with byte {at} flipped is ACCEPTED")
                failures += 1
        print(f"{name}: {flips} tampered copies rejected")
        if not rejected(StaticTrustStore(certificates=[]), transparent):
            print(f"{name}: ACCEPTED with an empty trust store")
            failures += 1
    print(f"accepted {accepted} transparent statements, {failures} failures")
    return 1 if failures or not names else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
