"""Offline checks of the deployment files in ``k8s/`` and ``cluster/``; each returns a list of problems.

Returning problems (instead of asserting) lets the tests prove twice: the real manifests have none,
and a deliberately broken copy has the expected one.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = Path(__file__).resolve().parent / "kuberay-crds"  # KubeRay v1 CRDs; see its README
K8S_VERSION = "1.33"  # kubernetes-validate ships its schemas; 1.33 is widely available on managed clusters
BUILDS = ("k8s/overlays/dev", "k8s/overlays/prod", "k8s/jobs/story")
CRD_FILES = {
    "RayCluster": "ray.io_rayclusters.yaml",
    "RayJob": "ray.io_rayjobs.yaml",
    "RayService": "ray.io_rayservices.yaml",
}
PLACEHOLDER = "REPLACE_ME"
# namespaces outside ours that may reach Ray pods, and on which ports (the README's defaults)
EXTERNAL_PEERS = {"ingress-nginx": {8000}, "kuberay-system": {8000, 8265, 52365}, "monitoring": {8080, 9500}}


# -- schemas ---------------------------------------------------------------------------------------
def _to_jsonschema(node: Any) -> Any:
    """An OpenAPI v3 CRD schema as JSON Schema: Kubernetes extensions translated, unknown fields rejected.

    The API server drops unknown fields of a custom resource (or rejects them with strict field
    validation); here they are errors, so a misspelt field cannot pass unnoticed.
    """
    if isinstance(node, list):
        return [_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k == "properties":
            out[k] = {name: _to_jsonschema(sub) for name, sub in v.items()}
        elif k in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[k] = _to_jsonschema(v)
        elif k.startswith("x-kubernetes-") or k in ("nullable", "format", "description", "default"):
            continue
        else:
            out[k] = v
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def crd_dir() -> Path:
    """The folder of the KubeRay CRDs; a clear failure when it is missing (never a silent pass)."""
    if not all((CRD_DIR / f).is_file() for f in CRD_FILES.values()):
        raise FileNotFoundError(
            f"KubeRay CRDs not found in {CRD_DIR} (expected {sorted(CRD_FILES.values())}); "
            "the deployment tests validate RayService/RayCluster/RayJob against them"
        )
    return CRD_DIR


@functools.cache
def crd_validator(kind: str) -> jsonschema.Draft7Validator:
    """A validator of ``kind`` (RayCluster, RayJob, RayService) from its CRD's v1 openAPIV3Schema."""
    # libyaml's loader when present: the three CRDs are 3 MB of YAML (10 s with the pure-Python one)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load((crd_dir() / CRD_FILES[kind]).read_text(encoding="utf-8"), Loader=loader)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return jsonschema.Draft7Validator(_to_jsonschema(version["schema"]["openAPIV3Schema"]))


def _where(error: jsonschema.ValidationError) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "(root)"


def _memo(check):
    """Cache a check by the document's content: the broken-copy tests re-check many unchanged objects."""
    cached = functools.lru_cache(maxsize=512)(lambda text: check(json.loads(text)))

    @functools.wraps(check)
    def wrapper(doc: dict) -> list[str]:
        return list(cached(json.dumps(doc, sort_keys=True)))

    wrapper.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return wrapper


@_memo
def crd_problems(doc: dict) -> list[str]:
    """Schema errors of a ray.io custom resource."""
    name = f"{doc['kind']}/{doc['metadata']['name']}"
    if doc.get("apiVersion") != "ray.io/v1":
        return [f"{name}: apiVersion must be ray.io/v1, got {doc.get('apiVersion')!r}"]
    return [f"{name}: {_where(e)}: {e.message}" for e in crd_validator(doc["kind"]).iter_errors(doc)]


@_memo
def builtin_problems(doc: dict) -> list[str]:
    """Schema errors of a built-in kind, with kubernetes-validate's strict schemas (unknown fields fail)."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{doc['kind']}/{doc['metadata']['name']}: {_where(e)}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError as e:
        return [f"{doc['kind']}/{doc['metadata']['name']}: {e.message}"]
    return []


# -- versions and images ---------------------------------------------------------------------------
def pinned_ray_version(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The version of ``ray[serve]==X`` in pyproject.toml."""
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    for dep in deps:
        m = re.fullmatch(r"ray(\[[^\]]*\])?==([\w.]+)", dep.replace(" ", ""))
        if m:
            return m.group(2)
    raise ValueError(f"{pyproject}: no pinned ray==X dependency")


def containers(node: Any) -> Iterator[dict]:
    """Every entry of any ``containers`` / ``initContainers`` list, at any depth."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("containers", "initContainers") and isinstance(v, list):
                yield from (c for c in v if isinstance(c, dict))
            else:
                yield from containers(v)
    elif isinstance(node, list):
        for v in node:
            yield from containers(v)


def image_problem(image: str, ray_version: str, where: str) -> str | None:
    """Ray images must carry the pinned version; ours its ``-ray<version>`` suffix; none may float."""
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    if not tag or tag == "latest":
        return f"{where}: image {image!r} has no fixed tag"
    if name.endswith("rayproject/ray") and not re.fullmatch(re.escape(ray_version) + r"(-[\w.]+)?", tag):
        return f"{where}: image {image!r} does not match the pinned Ray {ray_version}"
    if name.endswith("novel-engine") and not tag.endswith(f"-ray{ray_version}"):
        return f"{where}: image {image!r} must be tagged ...-ray{ray_version} (the Ray inside it)"
    return None


def image_problems(docs: list[dict], ray_version: str) -> list[str]:
    """Image tags and ``rayVersion`` fields against the pinned Ray version."""
    problems = []
    for d in docs:
        where = f"{d['kind']}/{d['metadata']['name']}"
        problems += [p for c in containers(d) if (p := image_problem(c.get("image", ""), ray_version, where))]
        for spec in _ray_cluster_specs(d):
            if spec.get("rayVersion") != ray_version:
                problems.append(f"{where}: rayVersion {spec.get('rayVersion')!r} != pinned {ray_version}")
    return problems


def dockerfile_problems(path: Path, ray_version: str) -> list[str]:
    """The image definition builds on ``rayproject/ray:<pinned version>``."""
    froms = re.findall(r"^FROM\s+(\S+)", path.read_text(encoding="utf-8"), flags=re.M)
    if not froms:
        return [f"{path}: no FROM line"]
    return [p for f in froms if (p := image_problem(f, ray_version, str(path)))] + (
        [] if any(f.startswith("rayproject/ray:") for f in froms) else [f"{path}: not based on rayproject/ray"]
    )


# -- secrets ---------------------------------------------------------------------------------------
def value_problem(key: str, value: str) -> str | None:
    """A secret value may be empty or the placeholder; a URL may carry the placeholder as its password."""
    if value in ("", PLACEHOLDER):
        return None
    u = urlsplit(value)
    if u.scheme and u.netloc:
        if u.password not in (None, PLACEHOLDER):
            return f"{key}: the URL holds a password; use {PLACEHOLDER}"
        return None
    return f"{key}: holds a value ({len(value)} characters); templates hold {PLACEHOLDER} only"


def secret_problems(docs: list[dict]) -> list[str]:
    """Every Secret holds placeholders only (``stringData`` and base64 ``data``)."""
    import base64

    problems = []
    for d in docs:
        if d.get("kind") != "Secret":
            continue
        items = dict(d.get("stringData") or {})
        for k, v in (d.get("data") or {}).items():
            items[k] = base64.b64decode(v).decode("utf-8", "replace")
        problems += [
            f"Secret/{d['metadata']['name']}: {p}" for k, v in items.items() if (p := value_problem(k, str(v)))
        ]
    return problems


def env_file_problems(path: Path) -> list[str]:
    """A KEY=VALUE template: secret-looking keys hold nothing."""
    problems = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" not in line or line.lstrip().startswith("#"):
            continue
        key, value = (s.strip() for s in line.split("=", 1))
        if re.search(r"SECRET|KEY|PASSWORD|TOKEN|_URL$", key) and (p := value_problem(key, value)):
            problems.append(f"{path.name}: {p}")
    return problems


# -- pods ------------------------------------------------------------------------------------------
@dataclass
class Pod:
    """A pod as it will run: its template's labels plus the labels KubeRay adds."""

    source: str
    labels: dict[str, str]
    spec: dict
    ray_node: str | None = None  # "head" / "worker" for Ray pods
    long_running: bool = True
    ports: set[int] = field(default_factory=set)


def _ray_cluster_specs(doc: dict) -> list[dict]:
    spec = doc.get("spec") or {}
    return {
        "RayCluster": [spec],
        "RayService": [spec.get("rayClusterConfig") or {}],
        "RayJob": [spec.get("rayClusterSpec")] if spec.get("rayClusterSpec") else [],
    }.get(doc["kind"], [])


def pods(docs: list[dict]) -> list[Pod]:
    """Every pod the objects will create, labelled as KubeRay labels Ray pods.

    KubeRay names a RayService's or RayJob's cluster ``<name>-<random suffix>``; the model uses a
    fixed suffix, so a selector on ``ray.io/cluster: <name>`` matches nothing, as in a real cluster.
    """
    out = []
    for d in docs:
        name = d["metadata"]["name"]
        where = f"{d['kind']}/{name}"
        for spec in _ray_cluster_specs(d):
            cluster = name if d["kind"] == "RayCluster" else f"{name}-x7k2q"
            # tolerant of broken specs: the schema check reports those, this model must not crash first
            groups = [("head", "headgroup", spec.get("headGroupSpec") or {})] + [
                ("worker", g.get("groupName", "?"), g) for g in spec.get("workerGroupSpecs", [])
            ]
            for node_type, group, g in groups:
                t = g.get("template") or {"spec": {}}
                labels = {
                    "app.kubernetes.io/name": "kuberay",
                    "app.kubernetes.io/created-by": "kuberay-operator",
                    **((t.get("metadata") or {}).get("labels") or {}),
                    "ray.io/is-ray-node": "yes",
                    "ray.io/cluster": cluster,
                    "ray.io/node-type": node_type,
                    "ray.io/group": group,
                    "ray.io/identifier": f"{cluster}-{node_type}",
                }
                out.append(Pod(f"{where} {group}", labels, t["spec"], ray_node=node_type, ports=_ports(t["spec"])))
        if d["kind"] == "RayJob" and d["spec"].get("submitterPodTemplate"):
            t = d["spec"]["submitterPodTemplate"]
            out.append(
                Pod(
                    f"{where} submitter",
                    dict((t.get("metadata") or {}).get("labels") or {}),
                    t["spec"],
                    long_running=False,
                )
            )
        if d["kind"] in ("StatefulSet", "Deployment", "DaemonSet"):
            t = d["spec"]["template"]
            out.append(Pod(where, dict(t["metadata"]["labels"]), t["spec"], ports=_ports(t["spec"])))
    return out


def _ports(spec: dict) -> set[int]:
    return {p["containerPort"] for c in spec.get("containers", []) for p in c.get("ports", [])}


def selects(selector: dict | None, labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against a label set."""
    selector = selector or {}
    if any(labels.get(k) != str(v) for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        k, op, values = e["key"], e["operator"], e.get("values") or []
        ok = {
            "In": k in labels and labels[k] in values,
            "NotIn": labels.get(k) not in values,
            "Exists": k in labels,
            "DoesNotExist": k not in labels,
        }[op]
        if not ok:
            return False
    return True


def container_problems(docs: list[dict]) -> list[str]:
    """Requests and limits (cpu, memory) on every container; probes on every long-running one."""
    problems = []
    for pod in pods(docs):
        for c in pod.spec.get("containers", []) + pod.spec.get("initContainers", []):
            r = c.get("resources") or {}
            for part in ("requests", "limits"):
                missing = {"cpu", "memory"} - set(r.get(part) or {})
                if missing:
                    problems.append(f"{pod.source} container {c['name']}: no {part} for {sorted(missing)}")
            if pod.long_running:
                problems += [
                    f"{pod.source} container {c['name']}: no {p}"
                    for p in ("readinessProbe", "livenessProbe")
                    if p not in c
                ]
    for d in docs:
        for spec in _ray_cluster_specs(d):
            if spec.get("enableInTreeAutoscaling"):
                r = (spec.get("autoscalerOptions") or {}).get("resources") or {}
                if not (r.get("requests") and r.get("limits")):
                    problems.append(f"{d['kind']}/{d['metadata']['name']}: autoscaler sidecar has no requests/limits")
    return problems


def probe_paths(pod: Pod) -> set[str]:
    """The HTTP paths of a pod's probes."""
    return {
        c[p]["httpGet"]["path"]
        for c in pod.spec.get("containers", [])
        for p in ("readinessProbe", "livenessProbe", "startupProbe")
        if "httpGet" in c.get(p, {})
    }


# -- network policies ------------------------------------------------------------------------------
def _peer_ports(rule: dict) -> set[int]:
    return {int(p["port"]) for p in rule.get("ports") or [] if "port" in p}


def network_policy_problems(docs: list[dict], all_pods: list[Pod]) -> list[str]:
    """Default deny; only the Serve gateway port faces the ingress controller; stores accept only Ray pods.

    ``all_pods`` are the pods of every build that shares the namespace (the RayService's and the
    RayJob's), since one set of policies governs them all.
    """
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    problems = []
    if not any(
        p["spec"].get("podSelector") == {}
        and "Ingress" in p["spec"].get("policyTypes", [])
        and not p["spec"].get("ingress")
        for p in policies
    ):
        problems.append("no default-deny ingress policy (podSelector {} with no ingress rules)")
    ray = [p for p in all_pods if p.ray_node]
    allowed_in: dict[int, set[str]] = {}  # id(pod) -> who may reach it (pod sources or ns:<name>)
    for pol in policies:
        name = f"NetworkPolicy/{pol['metadata']['name']}"
        targets = [p for p in all_pods if selects(pol["spec"].get("podSelector"), p.labels)]
        if not targets:
            problems.append(f"{name}: podSelector matches no pod")
        for rule in pol["spec"].get("ingress") or []:
            peers = rule.get("from")
            if not peers:
                problems.append(f"{name}: a rule without `from` admits every source")
                continue
            for peer in peers:
                if "ipBlock" in peer:
                    problems.append(f"{name}: ipBlock admits outside addresses")
                elif "namespaceSelector" in peer:
                    ns = (peer["namespaceSelector"].get("matchLabels") or {}).get("kubernetes.io/metadata.name")
                    ports = _peer_ports(rule)
                    if ns not in EXTERNAL_PEERS:
                        problems.append(f"{name}: admits namespace {ns!r}, not one of {sorted(EXTERNAL_PEERS)}")
                    elif not ports or not ports <= EXTERNAL_PEERS[ns]:
                        problems.append(f"{name}: namespace {ns} may reach only ports {sorted(EXTERNAL_PEERS[ns])}")
                    if ns == "ingress-nginx" and any(
                        not t.ray_node or t.labels.get("novel-engine/workload") != "serve" for t in targets
                    ):
                        problems.append(f"{name}: outside traffic reaches pods that are not the Serve gateway")
                    for t in targets:
                        allowed_in.setdefault(id(t), set()).add(f"ns:{ns}")
                else:
                    sources = [p for p in all_pods if selects(peer.get("podSelector"), p.labels)]
                    if not sources:
                        problems.append(f"{name}: a `from` podSelector matches no pod")
                    for t in targets:
                        allowed_in.setdefault(id(t), set()).update(s.source for s in sources)
    ray_sources = {p.source for p in ray}
    for store in ("postgres", "redis"):
        for pod in (p for p in all_pods if p.labels.get("app.kubernetes.io/name") == store):
            got = allowed_in.get(id(pod), set())
            if got != ray_sources:
                problems.append(
                    f"{pod.source}: must accept exactly the Ray pods; extra {sorted(got - ray_sources)}, "
                    f"missing {sorted(ray_sources - got)}"
                )
    for pod in ray:
        if not ray_sources <= allowed_in.get(id(pod), set()):
            problems.append(f"{pod.source}: does not accept traffic from every Ray pod")
    return problems


# -- everything ------------------------------------------------------------------------------------
def check_tree(root: Path = ROOT, ray_version: str | None = None) -> list[str]:
    """Every check over a checkout (or a copy of one): build, schemas, images, secrets, pods, policies."""
    from kustomize import build, load_documents

    ray_version = ray_version or pinned_ray_version(root / "pyproject.toml")
    builds = {b: build(root / b) for b in BUILDS}
    job_pods = pods(builds["k8s/jobs/story"])
    problems: list[str] = []
    for b, docs in builds.items():
        for d in docs:
            if d["apiVersion"].startswith("ray.io"):
                problems += crd_problems(d)
            elif not d["apiVersion"].startswith("monitoring.coreos.com"):
                problems += builtin_problems(d)
        problems += image_problems(docs, ray_version) + secret_problems(docs) + container_problems(docs)
        if b != "k8s/jobs/story":
            problems += network_policy_problems(docs, pods(docs) + job_pods)
    secrets = load_documents(root / "k8s/secrets/secrets.template.yaml")
    problems += secret_problems(secrets) + [p for d in secrets for p in builtin_problems(d)]
    problems += env_file_problems(root / "cluster/novel-engine.env.template")
    problems += dockerfile_problems(root / "cluster/Dockerfile", ray_version)
    return problems
