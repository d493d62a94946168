"""The cluster page of the docs (docs/clusters.md) agrees with the files: every path, overlay, resource name, Secret key,
label selector, port and route they mention exists.

A renamed Service, a new Secret key or a moved overlay fails here until the page follows.
"""

from __future__ import annotations

import re
import shlex

import deploy_checks as dc
import pytest
import yaml
from kustomize import build, load_documents

ROOT = dc.ROOT
PAGE = ROOT / "docs" / "clusters.md"


@pytest.fixture(scope="module")
def text() -> str:
    page = PAGE.read_text(encoding="utf-8")
    assert (
        "## Connect drivers and notebooks to a cluster" in page
        and "## Run on Kubernetes" in page
        and "## Run on VMs" in page
    )
    return page


@pytest.fixture(scope="module")
def commands(text) -> list[str]:
    """Shell lines of the fenced bash blocks, continuation lines joined, comments dropped."""
    lines = _commands(text)
    assert len(lines) > 30
    return lines


@pytest.fixture(scope="module")
def docs() -> dict[str, list[dict]]:
    return {b: build(ROOT / b) for b in dc.BUILDS}


def _one(docs: list[dict], kind: str) -> dict:
    return next(d for d in docs if d["kind"] == kind)


def _commands(text: str) -> list[str]:
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        lines += [re.sub(r"\s+#.*$", "", ln).strip() for ln in joined.splitlines() if ln.strip()]
    return lines


def missing_paths(text: str) -> list[str]:
    """Repository paths the text mentions that do not exist."""
    paths = set(re.findall(r"(?<![\w/])((?:k8s|cluster|serve_app|tests/deploy)(?:/[\w.-]+)*)", text))
    # files the page itself makes from a committed template (`cp x.template x`) need not exist
    made = {
        argv[2]
        for argv in (shlex.split(c) for c in _commands(text))
        if argv and argv[0] == "cp" and (ROOT / argv[1]).is_file()
    }
    return sorted(p for p in paths - made if not (ROOT / p).exists())


def test_every_repository_path_exists(text):
    assert len(re.findall(r"k8s/|cluster/", text)) > 20
    assert missing_paths(text) == []
    broken = text.replace("k8s/overlays/dev", "k8s/overlays/staging").replace("ray-aws.yaml", "ray-gcp.yaml")
    assert missing_paths(broken) == ["cluster/ray-gcp.yaml", "k8s/overlays/staging"]


def test_every_kustomize_path_builds(commands, docs):
    targets = [m.group(2) for c in commands for m in [re.search(r"kubectl (apply|create|delete) -k (\S+)", c)] if m]
    assert {"k8s/overlays/dev", "k8s/jobs/story"} <= set(targets)
    for t in targets:
        assert build(ROOT / t)
    edits = [c for c in commands if "kustomize edit set image" in c]
    assert edits
    for c in edits:
        assert (ROOT / re.search(r"cd (\S+)", c).group(1) / "kustomization.yaml").is_file(), c


def test_secret_commands_create_exactly_the_template_keys(commands):
    template = {
        s["metadata"]["name"]: set(s["stringData"]) for s in load_documents(ROOT / "k8s/secrets/secrets.template.yaml")
    }
    created = {}
    for c in commands:
        if "create secret generic" in c:
            argv = shlex.split(c)
            name = argv[argv.index("generic") + 1]
            created[name] = {a.split("=", 2)[1] for a in argv if a.startswith("--from-literal=")}
            assert argv[argv.index("-n") + 1] == "novel-engine"
    assert created == template


def test_resource_names_namespaces_selectors_and_ports(commands, docs):
    assert name_problems(commands, docs) == []
    broken = [
        c.replace("svc/novel-engine-serve-svc", "svc/novel-engine-svc").replace(
            "ray.io/node-type=head,", "ray.io/role=head,"
        )
        for c in commands
    ]
    problems = name_problems(broken, docs)
    assert any("svc/novel-engine-svc" in p for p in problems) and any("ray.io/role=head" in p for p in problems)


def name_problems(commands: list[str], docs: dict[str, list[dict]]) -> list[str]:
    """Resource names, namespaces, selectors, containers and ports of kubectl commands that do not exist."""
    problems = []
    overlay = docs["k8s/overlays/prod"]
    rs = _one(overlay, "RayService")["metadata"]["name"]
    job = _one(docs["k8s/jobs/story"], "RayJob")["metadata"]["name"]
    serve_port = yaml.safe_load(_one(overlay, "RayService")["spec"]["serveConfigV2"])["http_options"]["port"]
    known = {f"rayservice/{rs}", f"svc/{rs}-serve-svc", f"svc/{rs}-head-svc", f"rayjob {job}"}
    mentioned = set()
    all_pods = dc.pods(overlay) + dc.pods(docs["k8s/jobs/story"])
    for c in commands:
        if not c.startswith("kubectl") and "| kubectl" not in c and "$(kubectl" not in c:
            continue
        problems += [f"namespace {ns}" for ns in re.findall(r"-n (\S+)", c) if ns != "novel-engine"]
        mentioned |= {m for m in re.findall(r"(rayservice/\S+|svc/\S+|rayjob \S+)", c)}
        for sel in re.findall(r"-l (\S+)", c):
            labels = dict(pair.split("=") for pair in sel.split(","))
            if not any(dc.selects({"matchLabels": labels}, p.labels) for p in all_pods):
                problems.append(f"selector {sel} matches no pod")
        problems += [
            f"container {k}"
            for k in re.findall(r"-c (\S+)", c)
            if not any(x["name"] == k for p in all_pods for x in p.spec["containers"])
        ]
        m = re.search(r"port-forward svc/\S+-serve-svc (\d+):(\d+)", c)
        if m and int(m.group(2)) != serve_port:
            problems.append(f"port-forward to port {m.group(2)}, Serve listens on {serve_port}")
    if len(mentioned) < 4:
        problems.append(f"expected the RayService, its two Services and the RayJob, found {sorted(mentioned)}")
    return problems + [f"no such resource: {m}" for m in sorted(mentioned - known)]


def test_urls_name_real_routes(text):
    from serve_app.app import create_app

    api = create_app()
    # HTTP routes from the OpenAPI document (included routers hide their paths), WebSockets from the app
    routes = set(api.openapi()["paths"]) | {r.path for r in api.routes if hasattr(r, "path")}
    paths = set(re.findall(r"(?:https?|ws)://127\.0\.0\.1:\d+(/[\w/.-]*)", text))
    assert {"/health", "/api/v1/auth/login", "/api/v1/sessions", "/ws"} <= paths
    assert sorted(p for p in paths if p not in routes and p != "/-/healthz") == []  # /-/healthz: Serve's proxy


def test_images_story_job_and_cli_commands_match(text, commands, docs):
    from novel_engine.cli import _parser

    images = {c["image"] for c in dc.containers(docs["k8s/jobs/story"])}
    assert images == {"novel-engine:0.1.0-ray2.60.0"}
    assert "docker build -f cluster/Dockerfile -t novel-engine:0.1.0-ray2.60.0 ." in commands
    entry = _one(docs["k8s/jobs/story"], "RayJob")["spec"]["entrypoint"]
    out = shlex.split(entry)[shlex.split(entry).index("--out") + 1]
    assert f"aws s3 cp {out} -" in commands and f"aws s3 mb s3://{out.split('/')[2]}" in commands
    parser = _parser()
    job = parser.parse_args(shlex.split(entry)[1:])
    assert f"novel-engine run {job.scenario} --turns {job.turns} --seed {job.seed} --out {out}" in text
    for c in commands:
        m = re.search(r"(?:^|-- |')(novel-engine (?:run|users) [^'|]*)", c)
        if m:
            parser.parse_args(shlex.split(m.group(1))[1:])  # raises SystemExit on a wrong command


def test_vm_and_dev_cluster_commands(commands):
    assert "ray up cluster/ray-aws.yaml" in commands and "ray down cluster/ray-aws.yaml" in commands
    deploy = next(c for c in commands if "serve deploy" in c)
    config = re.search(r"serve deploy (\S+?)'", deploy).group(1)
    workdir = re.search(r"^WORKDIR (\S+)", (ROOT / "cluster/Dockerfile").read_text(encoding="utf-8"), re.M).group(1)
    assert config.startswith(workdir + "/") and (ROOT / config[len(workdir) + 1 :]).is_file()
    from novel_engine.runtime.dev_cluster import _parser

    for c in commands:
        if c.startswith("python -m novel_engine.runtime.dev_cluster"):
            _parser().parse_args(shlex.split(c)[3:])
    assert (
        "helm install kuberay-operator kuberay/kuberay-operator --namespace kuberay-system --create-namespace"
        in commands
        and "kuberay-system" in dc.EXTERNAL_PEERS
    )
