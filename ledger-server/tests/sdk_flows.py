"""The official azure-confidentialledger SDK (1.1.1, unmodified) against ledger-server.

Run by tests/sdk_python.rs, which starts the server and passes, in the environment:
LEDGER_ENDPOINT (https://127.0.0.1:<port>), LEDGER_SERVICE_CERT (the service certificate,
PEM: the SDK's ledger_certificate_path), LEDGER_ADMIN_PEM (an Administrator's certificate and
key), LEDGER_OTHER_PEM and LEDGER_OTHER_ID (a second certificate, not yet a user, and its user
id). The server pages entries two at a time. Every step asserts; any failure exits non-zero.
"""

import copy
import os
import sys

from azure.confidentialledger import (
    ConfidentialLedgerCertificateCredential,
    ConfidentialLedgerClient,
)
from azure.confidentialledger.receipt import verify_receipt
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

endpoint = os.environ["LEDGER_ENDPOINT"]
service_cert_path = os.environ["LEDGER_SERVICE_CERT"]
with open(service_cert_path, encoding="utf-8") as f:
    service_cert = f.read()


def client_for(pem_path):
    return ConfidentialLedgerClient(
        endpoint=endpoint,
        credential=ConfidentialLedgerCertificateCredential(certificate_path=pem_path),
        ledger_certificate_path=service_cert_path,
    )


def step(name):
    print(f"sdk: {name}", flush=True)


admin = client_for(os.environ["LEDGER_ADMIN_PEM"])

# The README's flow: write and wait for commit, read back, get and verify the receipt.
step("begin_create_ledger_entry")
poller = admin.begin_create_ledger_entry({"contents": "Hello world!"}, polling_interval=0.05)
created = poller.result()
assert created["collectionId"] == "subledger:0", created
tx = created["transactionId"]
status = admin.get_transaction_status(tx)
assert status == {"state": "Committed", "transactionId": tx}, status

step("begin_get_ledger_entry")
read = admin.begin_get_ledger_entry(tx, polling_interval=0.05).result()
assert read["state"] == "Ready", read
assert read["entry"]["contents"] == "Hello world!", read
assert read["entry"]["collectionId"] == "subledger:0", read
assert read["entry"]["transactionId"] == tx, read

step("begin_get_receipt and verify_receipt")
served = admin.begin_get_receipt(tx, polling_interval=0.05).result()
assert served["state"] == "Ready" and served["transactionId"] == tx, served
claims = served["applicationClaims"]
assert claims[0]["ledgerEntry"]["contents"] == "Hello world!", claims
verify_receipt(served["receipt"], service_cert, application_claims=claims)
# The receipt alone (the claims digest as given) verifies too.
verify_receipt(served["receipt"], service_cert)

step("verify_receipt refuses altered contents in the claims")
altered = copy.deepcopy(claims)
altered[0]["ledgerEntry"]["contents"] = "Hello world?"
try:
    verify_receipt(served["receipt"], service_cert, application_claims=altered)
except ValueError as e:
    assert "claims digest" in str(e), e
else:
    raise AssertionError("a receipt verified with altered application claims")
altered = copy.deepcopy(claims)
altered[0]["ledgerEntry"]["collectionId"] = "another"
try:
    verify_receipt(served["receipt"], service_cert, application_claims=altered)
except ValueError:
    pass
else:
    raise AssertionError("a receipt verified with an altered collection id")

# Entries in two collections, listed across pages (the server pages two at a time).
step("list_ledger_entries across pages and collections")
written = {"sdk-a": [], "sdk-b": []}
for i in range(5):
    r = admin.begin_create_ledger_entry(
        {"contents": f"a{i}"}, collection_id="sdk-a", polling_interval=0.05
    ).result()
    assert r["collectionId"] == "sdk-a", r
    written["sdk-a"].append((r["transactionId"], f"a{i}"))
for i in range(2):
    r = admin.create_ledger_entry({"contents": f"b{i}"}, collection_id="sdk-b")
    written["sdk-b"].append((r["transactionId"], f"b{i}"))
last_b = written["sdk-b"][-1][0]
admin.begin_wait_for_commit(last_b, polling_interval=0.05).result()

pages = list(admin.list_ledger_entries(collection_id="sdk-a").by_page())
assert len(pages) == 3, f"{len(pages)} pages"
listed = [(e["transactionId"], e["contents"]) for page in pages for e in page]
assert listed == written["sdk-a"], listed
for e in admin.list_ledger_entries(collection_id="sdk-a"):
    assert e["collectionId"] == "sdk-a", e
listed_b = [(e["transactionId"], e["contents"]) for e in admin.list_ledger_entries(collection_id="sdk-b")]
assert listed_b == written["sdk-b"], listed_b
ranged = [
    e["contents"]
    for e in admin.list_ledger_entries(
        collection_id="sdk-a",
        from_transaction_id=written["sdk-a"][1][0],
        to_transaction_id=written["sdk-a"][3][0],
    )
]
assert ranged == ["a1", "a2", "a3"], ranged
default = [e["contents"] for e in admin.list_ledger_entries()]
assert default == ["Hello world!"], default
collections = sorted(c["collectionId"] for c in admin.list_collections())
assert collections == ["sdk-a", "sdk-b", "subledger:0"], collections

step("get_current_ledger_entry")
current = admin.get_current_ledger_entry(collection_id="sdk-b")
assert current["contents"] == "b1" and current["collectionId"] == "sdk-b", current
current = admin.get_current_ledger_entry()
assert current["contents"] == "Hello world!", current

# Users: a Reader reads but may not write; a Contributor writes; a deleted user is refused.
step("user management")
other_id = os.environ["LEDGER_OTHER_ID"]
other = client_for(os.environ["LEDGER_OTHER_PEM"])
try:
    other.get_ledger_entry(tx)
except HttpResponseError as e:
    assert e.status_code == 403, e
else:
    raise AssertionError("an unknown certificate was let in")
user = admin.create_or_update_user(other_id, {"assignedRole": "Reader"})
assert user == {"assignedRole": "Reader", "userId": other_id}, user
assert admin.get_user(other_id) == user
assert other.get_ledger_entry(tx)["entry"]["contents"] == "Hello world!"
try:
    other.create_ledger_entry({"contents": "a Reader writing"})
except HttpResponseError as e:
    assert e.status_code == 403, e
    assert e.error is not None and e.error.code == "AuthorizationFailed", e.error
else:
    raise AssertionError("a Reader wrote an entry")
try:
    other.create_or_update_user(other_id, {"assignedRole": "Administrator"})
except HttpResponseError as e:
    assert e.status_code == 403, e
else:
    raise AssertionError("a Reader changed its own role")
user = admin.create_or_update_user(other_id, {"assignedRole": "Contributor"})
assert user["assignedRole"] == "Contributor", user
r = other.begin_create_ledger_entry({"contents": "a Contributor writing"}, polling_interval=0.05).result()
assert r["collectionId"] == "subledger:0", r
admin.delete_user(other_id)
try:
    admin.get_user(other_id)
except ResourceNotFoundError:
    pass
else:
    raise AssertionError("a deleted user is still there")
try:
    other.get_ledger_entry(tx)
except HttpResponseError as e:
    assert e.status_code == 403, e
else:
    raise AssertionError("a deleted user was let in")

step("governance and enclave quotes")
constitution = admin.get_constitution()
assert len(constitution["digest"]) == 64 and isinstance(constitution["script"], str), constitution
assert list(admin.list_consortium_members()) == []
quotes = admin.get_enclave_quotes()
assert quotes["enclaveQuotes"] == {} and len(quotes["currentNodeId"]) == 64, quotes

# Errors the SDK raises as the service's: a transaction that does not exist.
step("errors")
try:
    admin.begin_get_ledger_entry("1.999999", polling_interval=0.05).result()
except ResourceNotFoundError as e:
    assert e.error is not None and e.error.code == "InvalidTransactionId", e.error
else:
    raise AssertionError("a missing transaction was found")

print("sdk: all flows passed", flush=True)
sys.exit(0)
