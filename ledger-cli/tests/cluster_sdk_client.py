"""One client of the cluster test: the official azure-confidentialledger SDK (1.1.1,
unmodified) writing to a `ledger serve` cluster while its primary is killed and restarted.

Run by tests/cluster.rs with, in the environment: LEDGER_ENDPOINTS (the nodes' https URLs,
comma-separated; the client starts on the first and moves to the next when one fails),
LEDGER_SERVICE_CERT (the service certificate, PEM), LEDGER_ADMIN_PEM (an Administrator's
certificate and key), LEDGER_COLLECTION (the collection it writes) and LEDGER_STOP_FILE (the
client stops writing once this file exists).

A write counts only once the node the client is talking to reports it Committed; then the
client prints one JSON line {"tx", "collection", "contents", "endpoint"}. Failures during
failovers (refused connections, 503 while no primary is known, 404 while a restarted node
catches up) are retried on the next node; nothing is printed for a write never seen
Committed. Before exiting, the client reads back its last committed entries through the SDK
from every node and verifies their receipts with the SDK's verify_receipt; a mismatch exits
non-zero. The last line is {"done": <number of committed writes>}.
"""

import json
import os
import sys
import time

from azure.confidentialledger import (
    ConfidentialLedgerCertificateCredential,
    ConfidentialLedgerClient,
)
from azure.confidentialledger.receipt import verify_receipt

endpoints = os.environ["LEDGER_ENDPOINTS"].split(",")
service_cert_path = os.environ["LEDGER_SERVICE_CERT"]
with open(service_cert_path, encoding="utf-8") as f:
    service_cert = f.read()
collection = os.environ["LEDGER_COLLECTION"]
stop_file = os.environ["LEDGER_STOP_FILE"]
credential = ConfidentialLedgerCertificateCredential(
    certificate_path=os.environ["LEDGER_ADMIN_PEM"]
)

# No SDK-level retries: the test's failovers are what this client handles itself.
clients = [
    ConfidentialLedgerClient(
        endpoint=e,
        credential=credential,
        ledger_certificate_path=service_cert_path,
        retry_total=0,
        connection_timeout=5,
        read_timeout=30,
    )
    for e in endpoints
]

COMMIT_DEADLINE = 30.0
committed = []
current = 0
n = 0
while not os.path.exists(stop_file):
    client = clients[current]
    contents = f"sdk-{n}"
    n += 1
    try:
        tx = client.create_ledger_entry({"contents": contents}, collection_id=collection)[
            "transactionId"
        ]
    except Exception:  # noqa: BLE001 - any failure during a failover: try the next node
        current = (current + 1) % len(clients)
        time.sleep(0.05)
        continue
    deadline = time.monotonic() + COMMIT_DEADLINE
    state = None
    while time.monotonic() < deadline and not os.path.exists(stop_file):
        try:
            state = client.get_transaction_status(tx)["state"]
        except Exception:  # noqa: BLE001 - unknown here yet, or the node is restarting
            state = None
        if state == "Committed":
            break
        time.sleep(0.02)
    if state == "Committed":
        record = {
            "tx": tx,
            "collection": collection,
            "contents": contents,
            "endpoint": endpoints[current],
        }
        committed.append(record)
        print(json.dumps(record), flush=True)
    else:
        current = (current + 1) % len(clients)

# Reads and receipts through the SDK from every node (retrying while a node catches up).
for client, endpoint in zip(clients, endpoints):
    for record in committed[-5:]:
        deadline = time.monotonic() + 60
        while True:
            try:
                entry = client.get_ledger_entry(record["tx"], collection_id=collection)
                served = client.get_receipt(record["tx"])
                if entry.get("state") == "Ready" and served.get("state") == "Ready":
                    break
            except Exception as e:  # noqa: BLE001
                if time.monotonic() > deadline:
                    raise AssertionError(f"{endpoint} did not serve {record['tx']}: {e}")
            time.sleep(0.1)
        assert entry["entry"]["contents"] == record["contents"], (endpoint, entry, record)
        claims = served["applicationClaims"]
        assert claims[0]["ledgerEntry"]["contents"] == record["contents"], claims
        verify_receipt(served["receipt"], service_cert, application_claims=claims)

print(json.dumps({"done": len(committed)}), flush=True)
sys.exit(0)
