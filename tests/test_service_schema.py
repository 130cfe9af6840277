"""Schemathesis over the service's OpenAPI: no 5xx, responses match their schema; 401 without a key."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from service_fixtures import make_client

_env = make_client(Path(tempfile.mkdtemp(prefix="twin-schemathesis-")), max_upload_mb=0.5)
_app = _env.client.app
# the viewer's routes are tested by the viewer's own tests
schema = schemathesis.openapi.from_asgi("/openapi.json", _app).exclude(path_regex="^/viewer")

EXAMPLES = int(os.environ.get("TWIN_SCHEMATHESIS_EXAMPLES", "4"))


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case):
    """Authenticated as admin (every endpoint): never a 5xx, every answer as documented.

    ``positive_data_acceptance`` is left out: a schema-valid body is not a valid file
    (uploads are judged by their content, answered 415/422) and random ids are unknown (404).
    """
    case.call_and_validate(headers=_env.headers["admin"], excluded_checks=[positive_data_acceptance])


def _operations():
    spec = _app.openapi()
    for path, methods in spec["paths"].items():
        if path.startswith("/viewer"):
            continue
        for method, op in methods.items():
            yield pytest.param(method.upper(), path, bool(op.get("security")), id=f"{method.upper()} {path}")


@pytest.mark.parametrize("method,path,secured", list(_operations()))
def test_every_operation_needs_a_key(method, path, secured):
    """B11: without credentials every operation but /health answers 401 (never 422 or 500)."""
    url = path.replace("{", "").replace("}", "")
    r = _env.client.request(method, url)
    if path == "/health":
        assert r.status_code == 200
        return
    assert secured, f"{method} {path} declares no security scheme"
    assert r.status_code == 401, (method, path, r.status_code, r.text)
