"""The published OpenAPI document, run by ``schemathesis run --checks all`` against the running app.

Every check schemathesis has: no server error, every status, content type, header and body as the
document says, invalid input refused and valid input accepted, an ``Allow`` header on 405, auth
enforced where declared, resources gone after DELETE. With a user's token, as a client would run
it. The examples per operation are bounded (the run takes a few minutes on a loaded 2-core machine).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
from serve_checks import Api

MAX_EXAMPLES = 5
CONFIG = Path(__file__).with_name("schemathesis.toml")
SESSION_ROUTES = """
[[operations]]
include-path-regex = "^/api/v1/sessions/[{{]session_id[}}]/(agents|turns|narrative|causal-graph|events|export|fork)"
parameters = {{ "path.session_id" = "{session}", "path.agent_id" = "hero_001" }}
"""


@pytest.mark.timeout(1800)  # a hang guard: minutes when the machine is shared and busy
def test_schemathesis_checks_all_pass_against_the_running_app(serve_server, tmp_path):
    fuzzer = Api(serve_server, *serve_server.create_user("fuzz"))  # its own user: touches nobody else's data
    headers = {"Authorization": f"Bearer {fuzzer.token}"}
    doc = httpx.get(f"{serve_server.url}/openapi.json", headers=headers, timeout=30).json()
    assert {"bearer", "apiKey"} <= set(doc["components"]["securitySchemes"])
    # the routes under one session get a real one (and its agent hero_001), so the run reaches their
    # logic instead of a 404; the others (DELETE included) keep drawn ids
    session = fuzzer.new_session(session_name="fuzzed")["id"]
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.read_text(encoding="utf-8") + SESSION_ROUTES.format(session=session), encoding="utf-8")
    cli = Path(sys.executable).with_name("schemathesis")
    cmd = [
        str(cli),
        "--config-file",
        str(config),
        "run",
        f"{serve_server.url}/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {fuzzer.token}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "17",
        "--workers",
        "1",
        "--no-shrink",
        "--generation-database",
        "none",
        "--request-timeout",
        "120",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=1700, cwd=tmp_path)
    finally:
        _delete_sessions(fuzzer)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-15000:]
    (junit,) = tmp_path.glob("junit*.xml")
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert int(suite.get("tests")) >= 20 and int(suite.get("failures")) == 0 and int(suite.get("errors")) == 0, out


def _delete_sessions(api: Api) -> None:
    """The sessions the run created hold actors on the shared cluster: end them."""
    r = api.get("/api/v1/sessions", params={"limit": 200})
    for item in r.json().get("items", []) if r.status_code == 200 else []:
        api.delete(f"/api/v1/sessions/{item['id']}")
