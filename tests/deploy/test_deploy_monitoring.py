"""Monitoring in ``k8s/``: the alert rules and the Grafana dashboard checked by ``promtool``, the alerts'
unit tests run by it, every metric they use exported by the code, and the replicas' metrics kept
off the public Ingress.

``promtool`` is Prometheus's own checker (Debian: ``apt-get install prometheus``; .ci/run installs
it). Without it these tests fail and say how to get it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import deploy_checks as dc
import pytest
import yaml
from kustomize import build

ROOT = dc.ROOT
HERE = Path(__file__).parent
INSTALL_HINT = "install promtool (Debian/Ubuntu: apt-get install prometheus; or a Prometheus release archive)"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    tool = shutil.which("promtool")
    assert tool, f"promtool is not on the PATH: {INSTALL_HINT}"
    return subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def prod() -> list[dict]:
    return build(ROOT / "k8s/overlays/prod")


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def rules(prod) -> dict:
    """The PrometheusRule's groups, as the rule file Prometheus would load."""
    return {"groups": one(prod, "PrometheusRule")["spec"]["groups"]}


@pytest.fixture(scope="module")
def dashboard(prod) -> dict:
    cm = one(prod, "ConfigMap", "novel-engine-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"  # what Grafana's sidecar loads
    return json.loads(cm["data"]["novel-engine.json"])


def dashboard_exprs(dashboard: dict) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_the_alert_rules_pass_promtool(rules, tmp_path):
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert {
        "NovelEngineHighErrorRate",
        "NovelEngineDatabaseUnreachable",
        "NovelEngineRedisUnreachable",
        "NovelEngineNodeMemoryHigh",
        "NovelEngineLLMFailures",
        "NovelEngineLLMQuotaSaturated",
    } <= alerts
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    done = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_alerts_fire_when_they_should_and_not_otherwise(rules, tmp_path):
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    shutil.copy(HERE / "prometheus" / "alerts-test.yaml", tmp_path / "alerts-test.yaml")
    done = promtool("test", "rules", "alerts-test.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_dashboard_query_passes_promtool(dashboard, tmp_path):
    exprs = dashboard_exprs(dashboard)
    assert len(exprs) >= 10
    # promtool checks PromQL in rule files: each panel's query becomes a recording rule to check
    group = {"name": "dashboard", "rules": [{"record": f"dashboard:panel_{i}", "expr": e} for i, e in enumerate(exprs)]}
    (tmp_path / "dashboard.yaml").write_text(yaml.safe_dump({"groups": [group]}), encoding="utf-8")
    done = promtool("check", "rules", "dashboard.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def _exported_names() -> set[str]:
    """Series names the code exports: its metric definitions as Prometheus names them (counters get
    _total; histograms _bucket, _sum, _count; Ray's agent adds ray_), Ray's and the process's."""
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "unit"))
    from test_observability import _metric_definitions

    from novel_engine.storage.metrics import COUNTERS

    names = {n for _, n, _ in _metric_definitions()} | {n for n, _ in COUNTERS.values()}
    names.add("novel_engine_store_cache_hit_rate")
    out = set()
    for n in names:
        out |= {n, f"{n}_total", f"{n}_bucket", f"{n}_sum", f"{n}_count"}
    out |= {f"ray_{n}" for n in out}
    return out | {"ray_node_mem_used", "ray_node_mem_total", "process_resident_memory_bytes", "up"}


def _names_in(expr: str) -> set[str]:
    names = set()
    for alternatives in re.findall(r'__name__=~"([^"]+)"', expr):  # e.g. (ray_)?novel_engine_llm_calls_total
        base = alternatives.replace("(ray_)?", "")
        names |= {base, f"ray_{base}"} if "(ray_)?" in alternatives else {base}
    expr = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]', " ", expr)
    words = set(re.findall(r"[a-z_][a-z0-9_]*", expr))
    return names | {w for w in words if w.startswith(("novel_engine_", "ray_", "process_")) or w == "up"}


def test_every_metric_the_alerts_and_the_dashboard_use_is_exported(rules, dashboard):
    exported = _exported_names()
    used = set()
    for expr in [r["expr"] for g in rules["groups"] for r in g["rules"]] + dashboard_exprs(dashboard):
        used |= _names_in(expr)
    assert "novel_engine_dependency_up" in used and "ray_novel_engine_llm_calls_total" in used
    assert sorted(used - exported) == []


def test_replica_metrics_are_scraped_and_never_behind_the_ingress(prod):
    from fastapi.testclient import TestClient

    from serve_app.app import create_app
    from serve_app.config import ServeConfig

    config = one(prod, "ConfigMap", "novel-engine-config")["data"]
    cfg = ServeConfig.from_args({}, env=config)
    assert cfg.metrics_port == 9500
    with TestClient(create_app(cfg)) as client:  # the app the Ingress reaches has no /metrics
        assert client.get("/metrics").status_code == 404
    ing = one(prod, "Ingress")
    rs = one(prod, "RayService")
    serve = yaml.safe_load(rs["spec"]["serveConfigV2"])
    ports = {p["backend"]["service"]["port"]["number"] for r in ing["spec"]["rules"] for p in r["http"]["paths"]}
    assert ports == {serve["http_options"]["port"]} and cfg.metrics_port not in ports
    # the PodMonitor scrapes the replicas' port on every serve pod
    pm = one(prod, "PodMonitor")
    (app,) = [e for e in pm["spec"]["podMetricsEndpoints"] if e["port"] == "app-metrics"]
    assert app["path"] == "/metrics"
    groups = {g["groupName"]: g for g in rs["spec"]["rayClusterConfig"]["workerGroupSpecs"]}
    serve_ports = {p["name"]: p["containerPort"] for p in groups["serve"]["template"]["spec"]["containers"][0]["ports"]}
    assert serve_ports["app-metrics"] == cfg.metrics_port
    # one gateway replica per serve pod: each replica has the port to itself
    (dep,) = serve["applications"][0]["deployments"]
    assert dep["ray_actor_options"]["resources"] == {"gateway": 1} and groups["serve"]["resources"] == {"gateway": "1"}
    assert all("gateway" not in (g.get("resources") or {}) for name, g in groups.items() if name != "serve")
    assert dep["autoscaling_config"]["max_replicas"] <= 10  # the base serve group's pods
    # only Prometheus's namespace may reach it
    allowed = [
        p
        for p in prod
        if p["kind"] == "NetworkPolicy"
        and any(
            pt.get("port") == cfg.metrics_port for rule in p["spec"].get("ingress", []) for pt in rule.get("ports", [])
        )
    ]
    assert [p["metadata"]["name"] for p in allowed] == ["ray-metrics-from-prometheus"]
