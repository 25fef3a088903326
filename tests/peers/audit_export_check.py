"""An independent reader of Gatehouse audit exports (Python's json and csv modules, and the
`cryptography` package's Ed25519), for the export tests:

  audit_export_check.py JSONL_FILE CSV_FILE KEYS_FILE
      prints {"events": [ids in the JSON Lines export], "csv_ids": [ids in the CSV export],
              "csv_labels": [actor labels as a spreadsheet would read them],
              "checkpoints_verified": n, "checkpoints": n}

A checkpoint's signature covers the compact JSON array
["gatehouse-audit-checkpoint-v1", chain, number, last_seq, last_hash, signed_at_us, kid,
prev_signature], checked here against the published JWK set.
Errors are printed as {"error": "..."} with exit status 1.
"""

import base64
import csv
import json
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main(jsonl_path, csv_path, keys_path):
    with open(keys_path) as f:
        keys = {k["kid"]: Ed25519PublicKey.from_public_bytes(b64url(k["x"])) for k in json.load(f)["keys"]}
    with open(jsonl_path) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    header = lines[0]["export"]
    events = [line["id"] for line in lines[1:] if "id" in line]
    verified = 0
    for c in header["checkpoints"]:
        payload = json.dumps(
            ["gatehouse-audit-checkpoint-v1", c["chain"], c["number"], c["last_seq"],
             c["last_hash"], c["signed_at_us"], c["kid"], c["prev_signature"]],
            separators=(",", ":"),
        ).encode()
        keys[c["kid"]].verify(b64url(c["signature"]), payload)  # raises when invalid
        verified += 1
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    print(json.dumps({
        "events": events,
        "csv_ids": [r["id"] for r in rows],
        "csv_labels": [r["actor_label"] for r in rows],
        "checkpoints_verified": verified,
        "checkpoints": len(header["checkpoints"]),
    }))


if __name__ == "__main__":
    try:
        main(*sys.argv[1:4])
    except Exception as e:  # noqa: BLE001 - the test reads the message
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
