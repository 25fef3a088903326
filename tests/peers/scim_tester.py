"""Runs the scim2-tester conformance checks against a SCIM 2.0 server.

Usage: scim_tester.py BASE_URL TOKEN

BASE_URL is the SCIM base (e.g. http://127.0.0.1:PORT/scim/v2/TENANT); TOKEN goes in
`Authorization: Bearer`. The checker discovers the server from its ServiceProviderConfig,
ResourceTypes and Schemas, then creates, reads, searches, replaces, patches and deletes
every resource type it found. Prints one JSON object: the checker's version and one entry
per check (title, status, reason, resource type, tags, debugging data as text).

A check comparing the value it wrote with the value the server answered (the PATCH checks)
fails on any difference, including sub-attributes the server's schema marks readOnly and
fills in itself, such as a group member's `display`. Each such check also tells whether
the values differ only there (`differs_only_in_read_only`), for the test to judge.
"""

import json
import sys
from importlib.metadata import version

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import Mutability
from scim2_tester import check_server

# Debugging data is for reading a failure, not for the log to drown in.
MAX_DATA_CHARS = 2000


def without_read_only(value):
    """`value` as plain data, without the sub-attributes its model marks readOnly."""
    if isinstance(value, list):
        return [without_read_only(v) for v in value]
    model = type(value)
    if hasattr(model, "get_field_annotation") and hasattr(model, "model_fields"):
        return {
            name: without_read_only(getattr(value, name))
            for name in model.model_fields
            if model.get_field_annotation(name, Mutability) != Mutability.read_only
        }
    return value


def differs_only_in_read_only(data) -> bool:
    """Whether a comparing check's expected and answered values differ, but only in
    readOnly sub-attributes."""
    if not isinstance(data, dict) or "expected" not in data:
        return False
    expected = data["expected"]
    for key in ("modify_actual", "actual"):
        if key in data:
            actual = data[key]
            return expected != actual and without_read_only(
                expected
            ) == without_read_only(actual)
    return False


def main() -> None:
    base_url, token = sys.argv[1], sys.argv[2]
    http = Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    client = SyncSCIMClient(http)
    results = check_server(client)
    checks = [
        {
            "title": r.title,
            "status": r.status.name,
            "reason": r.reason,
            "resource_type": r.resource_type,
            "tags": sorted(r.tags),
            "data": None if r.data is None else repr(r.data)[:MAX_DATA_CHARS],
            "differs_only_in_read_only": differs_only_in_read_only(r.data),
        }
        for r in results
    ]
    print(json.dumps({"version": version("scim2-tester"), "checks": checks}))


if __name__ == "__main__":
    main()
