"""The RayService's serveConfigV2 (and the repo's serve_app/serve_config.yaml) against Ray Serve itself.

The CRD types serveConfigV2 only as a string, so it is checked here with Serve's own models
(``ServeDeploySchema``; ``AutoscalingConfig`` for the autoscaling block) plus a strict pass that
rejects keys Serve would silently ignore (its models accept unknown fields). The import path must
import, and every deployment the config tunes must exist in the application it names.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import deploy_checks as dc
import pytest
import yaml
from kustomize import build

ROOT = dc.ROOT
REPO_CONFIG = ROOT / "serve_app" / "serve_config.yaml"


def serve_problems(config: dict) -> list[str]:
    """Serve's validation of a config, plus unknown keys at every level Serve's models define."""
    from pydantic import ValidationError
    from ray.serve.config import AutoscalingConfig
    from ray.serve.schema import (
        DeploymentSchema,
        HTTPOptionsSchema,
        RayActorOptionsSchema,
        ServeApplicationSchema,
        ServeDeploySchema,
    )

    try:
        ServeDeploySchema.model_validate(config)
    except ValidationError as exc:
        return [f"ServeDeploySchema: {exc}"]

    def unknown(where: str, data: dict, model: Any) -> list[str]:
        known = set(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}
        return [f"{where}: unknown key {k!r}" for k in data if k not in known]

    problems = unknown("(root)", config, ServeDeploySchema)
    problems += unknown("http_options", config.get("http_options") or {}, HTTPOptionsSchema)
    for app in config["applications"]:
        where = f"application {app.get('name')}"
        problems += unknown(where, app, ServeApplicationSchema)
        for dep in app.get("deployments") or []:
            dwhere = f"{where} deployment {dep['name']}"
            problems += unknown(dwhere, dep, DeploymentSchema)
            problems += unknown(
                f"{dwhere} ray_actor_options", dep.get("ray_actor_options") or {}, RayActorOptionsSchema
            )
            if dep.get("autoscaling_config"):
                problems += unknown(f"{dwhere} autoscaling_config", dep["autoscaling_config"], AutoscalingConfig)
                try:
                    AutoscalingConfig(**dep["autoscaling_config"])
                except (ValidationError, TypeError, ValueError) as exc:
                    problems.append(f"{dwhere} autoscaling_config: {exc}")
    return problems


def deployment_names(import_path: str, args: dict | None = None) -> set[str]:
    """The deployments of the application an import path names (a bound app, or a builder called
    with the config's ``args``, as Serve does: a bad arg fails here)."""
    from ray.serve import Application

    module, _, attr = import_path.partition(":")
    target = getattr(importlib.import_module(module), attr)
    if isinstance(target, Application):
        assert not args, f"{import_path} is a bound application: Serve refuses args for it"
        app = target
    else:
        app = target(dict(args or {}))
    assert isinstance(app, Application), f"{import_path} is neither a bound application nor a builder of one"
    names, todo = set(), [app]
    while todo:
        bound = todo.pop()._bound_deployment
        names.add(bound.name)
        todo += [a for a in (*bound.init_args, *bound.init_kwargs.values()) if isinstance(a, Application)]
    return names


def import_problems(config: dict) -> list[str]:
    """Each application's import path imports, and names every deployment the config tunes."""
    problems = []
    for app in config["applications"]:
        try:
            names = deployment_names(app["import_path"], app.get("args"))
        except (ImportError, AttributeError) as exc:
            problems.append(f"{app['import_path']}: does not import: {exc}")
            continue
        problems += [
            f"{app['import_path']}: no deployment {d['name']!r} (has {sorted(names)})"
            for d in app.get("deployments") or []
            if d["name"] not in names
        ]
    return problems


@pytest.fixture(scope="module")
def rayservice_config() -> dict:
    rs = next(d for d in build(ROOT / "k8s/overlays/prod") if d["kind"] == "RayService")
    return yaml.safe_load(rs["spec"]["serveConfigV2"])


def test_serve_config_v2_validates_against_serve_and_imports(rayservice_config):
    assert serve_problems(rayservice_config) == []
    assert import_problems(rayservice_config) == []
    (app,) = rayservice_config["applications"]
    assert app["import_path"] == "serve_app.app:build_app" and app["route_prefix"] == "/"
    assert {"llm_allowed", "llm_options", "public_docs"} <= set(app["args"])
    (dep,) = app["deployments"]
    assert dep["autoscaling_config"]["min_replicas"] >= 1 and dep["max_ongoing_requests"] >= 1000
    assert rayservice_config["http_options"]["port"] == 8000  # KubeRay's serve Service targets 8000


def test_the_repo_serve_config_validates_and_agrees_with_the_rayservice(rayservice_config):
    assert REPO_CONFIG.is_file(), f"{REPO_CONFIG} is missing (the Serve config `serve deploy` and ray up use)"
    repo = yaml.safe_load(REPO_CONFIG.read_text(encoding="utf-8"))
    assert serve_problems(repo) == []
    assert import_problems(repo) == []
    paths = {a["import_path"].split(":")[0] for a in repo["applications"]}
    assert paths == {a["import_path"].split(":")[0] for a in rayservice_config["applications"]}


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (
            lambda c: c["applications"][0]["deployments"][0].update(max_ongoing_request=5),
            "unknown key 'max_ongoing_request'",
        ),
        (
            lambda c: c["applications"][0]["deployments"][0]["autoscaling_config"].update(min_replicas=50),
            "must be greater than or equal to min_replicas",
        ),
        (lambda c: c["http_options"].update(port="eight thousand"), "ServeDeploySchema"),
        (lambda c: c["applications"][0].update(import_path="serve_app.nope:app"), "does not import"),
        (lambda c: c["applications"][0]["deployments"][0].update(name="Gateway"), "no deployment 'Gateway'"),
    ],
)
def test_a_broken_serve_config_fails(rayservice_config, mutate, expected):
    import copy

    broken = copy.deepcopy(rayservice_config)
    mutate(broken)
    problems = serve_problems(broken)
    if not problems:
        problems = import_problems(broken)
    assert any(expected in p for p in problems), problems


def test_the_image_ships_the_serve_config_and_code():
    dockerfile = (ROOT / "cluster/Dockerfile").read_text(encoding="utf-8")
    assert "COPY --chown=ray:users serve_app ./serve_app" in dockerfile  # serve_config.yaml comes with it
    assert "import ray, novel_engine, serve_app.app" in dockerfile
    assert Path(ROOT / "serve_app" / "app.py").is_file()
