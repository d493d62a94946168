"""``serve_app/serve_config.yaml`` itself, deployed on the test cluster the way ``serve deploy`` does.

``serve deploy`` posts the file to the dashboard, which hands it to Serve's controller
(``apply_config``): the controller imports the builder, calls it with the application's ``args`` and
applies the deployment options. The test makes that same call through Serve's client, on the file
as committed, changing only what a shared test cluster needs (a name and route of its own beside
the other test apps, one zero-CPU replica, the test store, the secrets in the runtime env) and two
args, to see that args reach the app.
"""

from __future__ import annotations

import copy
from pathlib import Path

import httpx
import pytest
import yaml
from serve_checks import Api, assert_problem

CONFIG = Path(__file__).resolve().parents[2] / "serve_app" / "serve_config.yaml"
NAME, PREFIX = "novel-engine-config-file", "/config-file"


def deploy(serve_server, args: dict) -> None:
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeDeploySchema

    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    (app,) = config["applications"]
    app.update(name=NAME, route_prefix=PREFIX)
    app["args"] = {
        **app["args"],
        **args,
        "database_url": serve_server.store_settings.database_url,
        "object_store_url": serve_server.store_settings.object_store_url,
    }
    app["runtime_env"]["env_vars"].update(NOVEL_ENGINE_JWT_SECRET=serve_server.secret, GEMINI_API_KEY="fake-serve-key")
    for dep in app["deployments"]:
        dep.update(num_replicas=1)
        dep.setdefault("ray_actor_options", {})["num_cpus"] = 0
    _get_global_client().deploy_apps(ServeDeploySchema.model_validate(config), _blocking=True)


@pytest.fixture(scope="module")
def file_app(serve_server):
    yield serve_server
    from ray import serve

    serve.delete(NAME)


def test_the_committed_file_names_the_builder_and_its_documented_args():
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    (app,) = config["applications"]
    assert app["import_path"] == "serve_app.app:build_app"
    assert {"llm_allowed", "llm_options", "public_docs"} <= set(app["args"])
    assert "NOVEL_ENGINE_JWT_SECRET" not in str(config)


def test_serve_deploy_of_the_file_runs_the_app_and_its_args_take_effect(file_app):
    server = file_app
    gemini = {"gemini": {"base_url": server.gemini.url, "gemini_transport": "rest", "max_retries": 1}}
    deploy(server, {"public_docs": True, "llm_allowed": "offline,gemini", "llm_options": copy.deepcopy(gemini)})
    base = server.url + PREFIX
    assert httpx.get(f"{base}/health", timeout=30).json() == {"status": "ok"}
    docs = httpx.get(f"{base}/openapi.json", timeout=30)  # public_docs: no token needed
    assert docs.status_code == 200 and "securitySchemes" in docs.json()["components"]
    user = Api(server, *server.create_user("cfgfile"), prefix=PREFIX)
    made = user.post("/api/v1/sessions", json={"world_template": "fantasy_world", "settings": {"llm": "gemini"}})
    assert made.status_code == 201 and made.json()["llm"] == "gemini", made.text  # llm_allowed offered it
    user.delete(f"/api/v1/sessions/{made.json()['id']}")

    deploy(server, {})  # the file's own args: docs need a token, only the offline model
    assert_problem(httpx.get(f"{base}/openapi.json", timeout=30), 401)
    refused = user.post("/api/v1/sessions", json={"world_template": "fantasy_world", "settings": {"llm": "gemini"}})
    got = assert_problem(refused, 422)
    assert any(e["path"] == "body.settings.llm" for e in got["errors"]), got
