"""The Serve config file and the app builder: a valid Serve schema, the right import path, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import serve_app
from novel_engine.errors import ConfigError
from serve_app.config import ServeConfig

CONFIG = Path(serve_app.__file__).parent / "serve_config.yaml"


def test_serve_config_is_a_valid_serve_deploy_schema_for_the_builder_and_its_args():
    from ray.serve.schema import ServeDeploySchema

    from serve_app.app import NovelEngineIngress, build_app

    schema = ServeDeploySchema.model_validate(yaml.safe_load(CONFIG.read_text()))
    (app,) = schema.applications
    assert app.import_path == "serve_app.app:build_app" and app.route_prefix == "/"
    assert {"llm_allowed", "llm_options", "public_docs"} <= set(app.args)
    build_app(app.args)  # what Serve calls with them
    assert [d.name for d in app.deployments] == [NovelEngineIngress.name]
    assert app.deployments[0].max_ongoing_requests >= 1000
    assert "NOVEL_ENGINE_JWT_SECRET" not in str(app.runtime_env)  # secrets never live in the file


def test_builder_takes_args_and_refuses_unknown_or_malformed_ones():
    from ray.serve import Application

    from serve_app.app import app, build_app

    assert isinstance(app, Application)
    assert isinstance(build_app({"num_replicas": "2", "ws_queue_size": "64", "dev_mode": "true"}), Application)
    with pytest.raises(ConfigError, match="unknown serve setting"):
        build_app({"num_replica": 2})
    with pytest.raises(ConfigError, match="ws_queue_size"):
        build_app({"ws_queue_size": "many"})


def test_serve_config_reads_args_over_environment():
    cfg = ServeConfig.from_args(
        {"heartbeat_s": "3"}, env={"NOVEL_ENGINE_SERVE_HEARTBEAT_S": "9", "NOVEL_ENGINE_SERVE_DEV_MODE": "yes"}
    )
    assert cfg.heartbeat_s == 3.0 and cfg.dev_mode is True


def test_serve_refuses_to_start_without_a_secret_unless_dev(monkeypatch, capsys):
    from novel_engine.cli import main
    from serve_app.launcher import serve_env

    monkeypatch.delenv("NOVEL_ENGINE_JWT_SECRET", raising=False)
    assert main(["serve", "--port", "0"]) == 2  # refused before Ray starts
    assert "NOVEL_ENGINE_JWT_SECRET" in capsys.readouterr().err
    env = serve_env(True, {"NOVEL_ENGINE_DATA_DIR": "/tmp/x", "HOME": "/root"})
    assert len(env["NOVEL_ENGINE_JWT_SECRET"]) >= 32 and env["NOVEL_ENGINE_DATA_DIR"] == "/tmp/x"
    assert "HOME" not in env  # only the engine's own variables reach the replicas
    with pytest.raises(ConfigError):
        serve_env(False, {"NOVEL_ENGINE_JWT_SECRET": "changeme"})


def test_a_server_that_cannot_open_its_store_answers_503_problems_but_stays_alive():
    from fastapi.testclient import TestClient

    from serve_app.app import create_app
    from serve_app.context import ServeContext

    cfg = ServeConfig(database_url="sqlite:////proc/no-such-folder/state.db", object_store_url="memory://x")
    api = create_app(cfg)
    api.state.ctx = ServeContext(cfg)
    with TestClient(api) as client:
        r = client.get("/api/v1/sessions", headers={"Authorization": "Bearer x"})
        assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"].endswith("/not-ready") and "Traceback" not in r.text
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/ready").status_code == 503


def test_haproxy_ingress_is_chosen_before_ray_starts_unless_the_python_proxy_is_asked_for():
    from serve_app.launcher import HAPROXY_ENV, use_haproxy_ingress

    env: dict[str, str] = {}
    assert use_haproxy_ingress(environ=env) is True
    assert {k: env[k] for k in HAPROXY_ENV} == HAPROXY_ENV
    assert env["RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"] == "2.0"
    # what the operator set wins
    env = {"RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "30"}
    use_haproxy_ingress(environ=env)
    assert env["RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"] == "30"
    env = {"NOVEL_ENGINE_SERVE_INGRESS": "proxy"}
    assert use_haproxy_ingress(environ=env) is False and set(env) == {"NOVEL_ENGINE_SERVE_INGRESS"}
    with pytest.raises(ConfigError, match="NOVEL_ENGINE_SERVE_INGRESS: must be haproxy or proxy"):
        use_haproxy_ingress(environ={"NOVEL_ENGINE_SERVE_INGRESS": "nginx"})
