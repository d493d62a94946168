"""The manifests in k8s/ and the cluster files: they parse, build, validate and agree with each other.

No cluster is needed: KubeRay objects validate against the CRDs in tests/deploy/kuberay-crds, built-in
kinds against kubernetes-validate's schemas (Kubernetes ``K8S_VERSION``), and the overlays are
built by ``kubectl kustomize``, as ``kubectl apply -k`` builds them.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import deploy_checks as dc
import pytest
import yaml
from kustomize import build, load_documents

ROOT = dc.ROOT
RAY = dc.pinned_ray_version()


@pytest.fixture(scope="module")
def builds() -> dict[str, list[dict]]:
    return {b: build(ROOT / b) for b in dc.BUILDS}


@pytest.fixture(scope="module")
def all_pods(builds) -> list[dc.Pod]:
    # dev and prod are alternatives; each shares the namespace with the story job
    return dc.pods(builds["k8s/overlays/dev"]) + dc.pods(builds["k8s/jobs/story"])


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def test_the_whole_tree_has_no_problem():
    assert dc.check_tree(ROOT) == []


def test_every_manifest_file_parses():
    files = sorted((ROOT / "k8s").rglob("*.yaml"))
    assert len(files) >= 20
    for f in files:
        docs = list(yaml.safe_load_all(f.read_text(encoding="utf-8")))
        assert docs and all(d is not None for d in docs), f"{f}: empty document"
        if f.name != "kustomization.yaml" and not isinstance(docs[0], list):  # JSON 6902 patches are lists
            if "overlays" not in f.parts:
                load_documents(f)  # whole Kubernetes objects


def test_overlays_build_with_the_expected_objects(builds):
    for overlay in ("k8s/overlays/dev", "k8s/overlays/prod"):
        docs = builds[overlay]
        kinds = {d["kind"] for d in docs}
        assert {
            "Namespace",
            "ConfigMap",
            "RayService",
            "StatefulSet",
            "Service",
            "NetworkPolicy",
            "Ingress",
            "PodMonitor",
        } <= kinds
        assert "Secret" not in kinds  # apply -k must never overwrite the real secrets with placeholders
        assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {"novel-engine"}
        assert all(d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "novel-engine" for d in docs)
    dev = one(builds["k8s/overlays/dev"], "RayService")["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    prod = one(builds["k8s/overlays/prod"], "RayService")["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    assert [g["maxReplicas"] for g in dev] == [2, 1] and [g["maxReplicas"] for g in prod] == [30, 50]
    assert one(builds["k8s/overlays/prod"], "Ingress")["spec"]["tls"][0]["secretName"] == "novel-engine-tls"
    assert one(builds["k8s/jobs/story"], "RayJob")["metadata"]["namespace"] == "novel-engine"


def test_kuberay_objects_validate_against_the_crds(builds):
    ray_docs = [d for docs in builds.values() for d in docs if d["apiVersion"].startswith("ray.io")]
    assert {d["kind"] for d in ray_docs} == {"RayService", "RayJob"}
    problems = [p for d in ray_docs for p in dc.crd_problems(d)]
    # the RayService's cluster, as a standalone RayCluster, validates against the RayCluster CRD too
    rs = one(builds["k8s/overlays/prod"], "RayService")
    problems += dc.crd_problems(
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": "check"},
            "spec": rs["spec"]["rayClusterConfig"],
        }
    )
    assert problems == []


def test_builtin_kinds_validate_against_kubernetes_schemas(builds):
    docs = [d for b in builds.values() for d in b if not d["apiVersion"].startswith(("ray.io", "monitoring."))]
    docs += load_documents(ROOT / "k8s/secrets/secrets.template.yaml")
    assert {"Namespace", "ConfigMap", "Service", "StatefulSet", "NetworkPolicy", "Ingress", "Secret"} <= {
        d["kind"] for d in docs
    }
    assert [p for d in docs for p in dc.builtin_problems(d)] == []


def test_images_and_ray_versions_match_the_pinned_ray(builds):
    assert RAY == "2.60.0"
    assert [p for docs in builds.values() for p in dc.image_problems(docs, RAY)] == []
    assert dc.dockerfile_problems(ROOT / "cluster/Dockerfile", RAY) == []
    cfg = yaml.safe_load((ROOT / "cluster/ray-aws.yaml").read_text(encoding="utf-8"))
    assert dc.image_problem(cfg["docker"]["image"], RAY, "ray-aws.yaml") is None


def test_secrets_are_templates_and_every_reference_resolves(builds):
    secrets = load_documents(ROOT / "k8s/secrets/secrets.template.yaml")
    assert dc.secret_problems(secrets) == []
    assert dc.env_file_problems(ROOT / "cluster/novel-engine.env.template") == []
    keys = {("Secret", s["metadata"]["name"]): set(s["stringData"]) for s in secrets}
    for docs in builds.values():
        keys.update({("ConfigMap", c["metadata"]["name"]): set(c["data"]) for c in docs if c["kind"] == "ConfigMap"})
    refs = []
    for docs in builds.values():
        for c in (c for d in docs for c in dc.containers(d)):
            refs += [(("Secret", e["secretRef"]["name"]), None) for e in c.get("envFrom", []) if "secretRef" in e]
            refs += [
                (("ConfigMap", e["configMapRef"]["name"]), None) for e in c.get("envFrom", []) if "configMapRef" in e
            ]
            for e in c.get("env", []):
                src = e.get("valueFrom", {})
                if "secretKeyRef" in src:
                    refs.append((("Secret", src["secretKeyRef"]["name"]), src["secretKeyRef"]["key"]))
                if "configMapKeyRef" in src:
                    refs.append((("ConfigMap", src["configMapKeyRef"]["name"]), src["configMapKeyRef"]["key"]))
        for d in docs:
            for spec in dc._ray_cluster_specs(d):
                ref = spec.get("gcsFaultToleranceOptions", {}).get("redisPassword", {}).get("valueFrom", {})
                if ref:
                    refs.append((("Secret", ref["secretKeyRef"]["name"]), ref["secretKeyRef"]["key"]))
    assert len(refs) > 10
    missing = [(ref, key) for ref, key in refs if ref not in keys or (key is not None and key not in keys[ref])]
    assert missing == []
    app = keys[("Secret", "novel-engine-secrets")]
    assert {"NOVEL_ENGINE_JWT_SECRET", "GEMINI_API_KEY", "NOVEL_ENGINE_DATABASE_URL", "NOVEL_ENGINE_REDIS_URL"} <= app


def test_the_server_refuses_the_template_jwt_secret():
    from serve_app.security.settings import secret_problem

    secret = one(load_documents(ROOT / "k8s/secrets/secrets.template.yaml"), "Secret", "novel-engine-secrets")
    assert secret_problem(secret["stringData"]["NOVEL_ENGINE_JWT_SECRET"]) is not None


def test_configmap_names_only_settings_the_code_reads(builds):
    code = "".join(
        p.read_text(encoding="utf-8") for d in ("novel_engine", "serve_app") for p in (ROOT / d).rglob("*.py")
    )
    data = one(builds["k8s/overlays/dev"], "ConfigMap", "novel-engine-config")["data"]
    from serve_app.config import ServeConfig

    serve_fields = {f"NOVEL_ENGINE_SERVE_{f.name.upper()}" for f in dataclasses.fields(ServeConfig)}
    ours = [k for k in data if k.startswith("NOVEL_ENGINE_")]
    unknown = [k for k in ours if k not in serve_fields and k not in code]  # e.g. a misspelt variable
    assert len(ours) >= 6 and unknown == []


def test_requests_limits_and_probes(builds):
    assert [p for docs in builds.values() for p in dc.container_problems(docs)] == []
    serving = [p for p in dc.pods(builds["k8s/overlays/prod"]) if p.ray_node == "worker"]
    assert serving and all({"/-/healthz", "/health"} <= dc.probe_paths(p) for p in serving)


def test_network_policies_match_the_pods_kuberay_creates(builds, all_pods):
    for overlay in ("k8s/overlays/dev", "k8s/overlays/prod"):
        assert dc.network_policy_problems(builds[overlay], all_pods) == []
    ray_pods = [p for p in all_pods if p.ray_node]
    assert len(ray_pods) == 5 and all(p.labels["ray.io/cluster"] != "novel-engine" for p in ray_pods)


def test_rayservice_head_autoscaling_and_gcs_fault_tolerance(builds):
    spec = one(builds["k8s/overlays/prod"], "RayService")["spec"]
    cluster = spec["rayClusterConfig"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    assert cluster["enableInTreeAutoscaling"] is True
    assert all(0 <= g["minReplicas"] < g["maxReplicas"] for g in cluster["workerGroupSpecs"])
    redis = one(builds["k8s/overlays/prod"], "Service", "novel-engine-redis")
    assert cluster["gcsFaultToleranceOptions"]["redisAddress"] == f"{redis['metadata']['name']}:6379"


def test_ingress_podmonitor_and_services_point_at_real_things(builds):
    docs = builds["k8s/overlays/prod"]
    rs = one(docs, "RayService")
    ing = one(docs, "Ingress")
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    serve = yaml.safe_load(rs["spec"]["serveConfigV2"])
    assert backend == {"name": f"{rs['metadata']['name']}-serve-svc", "port": {"number": serve["http_options"]["port"]}}
    assert int(ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    pm = one(docs, "PodMonitor")
    ray_pods = [p for p in dc.pods(docs) if p.ray_node]
    assert all(dc.selects(pm["spec"]["selector"], p.labels) for p in ray_pods)
    port = pm["spec"]["podMetricsEndpoints"][0]["port"]
    assert all(any(pt["name"] == port for c in p.spec["containers"] for pt in c.get("ports", [])) for p in ray_pods)
    for svc in (d for d in docs if d["kind"] == "Service"):
        assert any(dc.selects({"matchLabels": svc["spec"]["selector"]}, p.labels) for p in dc.pods(docs)), svc


def test_the_rayjob_runs_a_real_scenario_and_writes_to_the_object_store_bucket(builds):
    from novel_engine.cli import _parser
    from novel_engine.scenarios import describe_builtins
    from novel_engine.storage.exports import check_target, is_object_url

    job = one(builds["k8s/jobs/story"], "RayJob")
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[0] == "novel-engine"
    args = _parser().parse_args(argv[1:])
    assert args.command == "run" and args.runtime == "ray"
    assert args.scenario in {r["name"] for r in describe_builtins()}
    assert is_object_url(args.out) and args.out.startswith("s3://")
    check_target(args.out)
    store = one(builds["k8s/overlays/prod"], "ConfigMap", "novel-engine-config")["data"][
        "NOVEL_ENGINE_OBJECT_STORE_URL"
    ]
    assert args.out.split("/")[2] == store.split("/")[2]  # same bucket as the state store's objects
    assert job["spec"]["shutdownAfterJobFinishes"] is True


def test_ray_up_config_validates_against_rays_cluster_schema():
    import json

    import jsonschema
    import ray

    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text(encoding="utf-8"))
    cfg = yaml.safe_load((ROOT / "cluster/ray-aws.yaml").read_text(encoding="utf-8"))
    jsonschema.validate(cfg, schema)
    assert cfg["available_node_types"][cfg["head_node_type"]]["resources"]["CPU"] == 0
    assert "--num-cpus=0" in " ".join(cfg["head_start_ray_commands"])
    for local in cfg["file_mounts"].values():
        assert (ROOT / f"{local}.template").is_file()  # the template of each mounted (ignored) file


# read by path, not through the package: the Dockerfile copies serve_app/ whole to /opt/novel-engine
DEPLOY_FILES = {ROOT / "serve_app" / "serve_config.yaml"}


def test_the_image_gets_every_data_file_of_the_packages():
    """The Dockerfile installs the package (not the source tree): data files must be package data."""
    import fnmatch
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"].get(
        "package-data", {}
    )
    missing = []
    for top in ("novel_engine", "serve_app"):
        for f in (ROOT / top).rglob("*"):
            if not f.is_file() or f.suffix in (".py", ".pyc") or "__pycache__" in f.parts or f in DEPLOY_FILES:
                continue
            rel = f.relative_to(ROOT)
            covered = any(
                fnmatch.fnmatch(str(rel.relative_to(pkg.replace(".", "/"))), p)
                for pkg, globs in patterns.items()
                if rel.is_relative_to(pkg.replace(".", "/"))
                for p in globs
            )
            if not covered:
                missing.append(str(rel))
    assert missing == [], "add these to [tool.setuptools.package-data] in pyproject.toml"
