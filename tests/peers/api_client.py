"""Gatehouse's OpenAPI document, read as an API client's team would: checked by an
independent OpenAPI 3.1 validator (openapi-spec-validator), turned into a Python client by a
standard generator (openapi-python-client), and that client driven against a running
Gatehouse. Nothing here is written by hand against Gatehouse's routes: every call goes
through the generated functions and models.

  api_client.py DOCUMENT OUT_DIR BASE_URL OPERATOR_TOKEN SLUG DOMAIN
      prints {"tenant", "token_id", "group", "listed", "after_delete", "problem"}
      or {"error"} naming the step that failed
"""

import importlib
import json
import os
import pathlib
import subprocess
import sys

from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename


def generate(document, out_dir):
    out = pathlib.Path(out_dir)
    config = out.parent / "generator.json"
    config.write_text(json.dumps({"package_name_override": "gatehouse_client"}))
    bin_dir = pathlib.Path(sys.executable).parent
    generator = bin_dir / "openapi-python-client"
    # The generator formats its output with ruff, from the same environment.
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    subprocess.run(
        [str(generator), "generate", "--path", document, "--output-path", str(out),
         "--config", str(config), "--meta", "none", "--overwrite"],
        check=True, capture_output=True, text=True, env=env,
    )
    sys.path.insert(0, str(out.parent))


def api(tag, operation):
    return importlib.import_module(f"gatehouse_client.api.{tag}.{operation}")


def main():
    document, out_dir, base, operator_token, slug, domain = sys.argv[1:7]
    spec, _ = read_from_filename(document)
    validate(spec)
    generate(document, pathlib.Path(out_dir) / "gatehouse_client")

    from gatehouse_client import AuthenticatedClient
    from gatehouse_client import models

    operator = AuthenticatedClient(base_url=base, token=operator_token,
                                   raise_on_unexpected_status=True)
    tenant = api("operator", "create_tenant").sync(
        client=operator,
        body=models.CreateTenant(slug=slug, name="Generated Client Ltd", domains=[domain]),
    )
    read = api("operator", "get_tenant").sync(client=operator, tenant=str(tenant.id))
    assert read.slug == slug, read
    issued = api("operator", "create_tenant_api_token").sync(
        client=operator, tenant=str(tenant.id),
        body=models.CreateApiToken(name="generated", scopes=[models.ApiTokenScope.ADMIN]),
    )

    admin = AuthenticatedClient(base_url=base, token=issued.token,
                                raise_on_unexpected_status=True)
    group = api("admin", "create_group").sync(
        client=admin, body=models.NewGroup(display_name="Generated Engineers"))
    page = api("admin", "list_groups").sync(client=admin, limit=10)
    listed = [g.display_name for g in page.groups]
    got = api("admin", "get_group").sync(client=admin, group=group.id)
    assert got.display_name == "Generated Engineers", got
    deleted = api("admin", "delete_group").sync_detailed(client=admin, group=group.id)
    after = api("admin", "list_groups").sync(client=admin)
    # A refusal arrives as the documented problem model, not as an unexpected status.
    missing = AuthenticatedClient(base_url=base, token=issued.token)
    problem = api("admin", "get_group").sync(client=missing, group=group.id)
    print(json.dumps({
        "tenant": str(tenant.id),
        "token_id": str(issued.id),
        "group": str(group.id),
        "listed": listed,
        "deleted_status": int(deleted.status_code),
        "after_delete": [g.display_name for g in after.groups],
        "problem": {"type": problem.type_, "status": problem.status},
    }))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the test prints what failed
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
