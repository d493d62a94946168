"""The checks fail on broken manifests: each test breaks one thing in a copy of the tree.

A copy of k8s/, cluster/ and pyproject.toml goes to a temporary folder; one text edit breaks it; the
same ``check_tree`` that passes on the real tree must then report the problem.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import deploy_checks as dc
import pytest
from kustomize import KustomizeError


@pytest.fixture
def tree(tmp_path) -> Path:
    for part in ("k8s", "cluster"):
        shutil.copytree(dc.ROOT / part, tmp_path / part)
    shutil.copy(dc.ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{rel} no longer contains {old!r}: update this test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems_of(root: Path) -> str:
    return "\n".join(dc.check_tree(root))


def test_the_unbroken_copy_passes(tree):
    assert dc.check_tree(tree) == []


@pytest.mark.parametrize(
    "rel, old, new, expected",
    [
        # KubeRay schema: a misspelt field, a missing required field, a wrong type
        ("k8s/base/rayservice.yaml", "minReplicas: 0", "minReplica: 0", "'minReplica' was unexpected"),
        ("k8s/jobs/story/rayjob.yaml", "      - groupName: sim\n", "      - name: sim\n", "'groupName' is a required"),
        (
            "k8s/base/rayservice.yaml",
            "enableInTreeAutoscaling: true",
            "enableInTreeAutoscaling: yes-please",
            "is not of type 'boolean'",
        ),
        # Kubernetes schema of a built-in kind
        ("k8s/base/postgres.yaml", "replicas: 1", "replicas: one", "StatefulSet/novel-engine-postgres"),
        ("k8s/base/ingress.yaml", "pathType: Prefix", "pathKind: Prefix", "Ingress/novel-engine"),
        # images and versions
        (
            "k8s/jobs/story/rayjob.yaml",
            "image: novel-engine:0.1.0-ray2.60.0",
            "image: novel-engine:0.1.0-ray2.59.0",
            "must be tagged ...-ray2.60.0",
        ),
        ("k8s/overlays/prod/kustomization.yaml", "newTag: 0.1.0-ray2.60.0", "newTag: latest", "has no fixed tag"),
        ("k8s/base/rayservice.yaml", 'rayVersion: "2.60.0"', 'rayVersion: "2.59.0"', "rayVersion '2.59.0'"),
        (
            "cluster/Dockerfile",
            "FROM rayproject/ray:2.60.0-py311",
            "FROM rayproject/ray:2.59.0-py311",
            "does not match the pinned Ray 2.60.0",
        ),
        # real-looking secrets
        (
            "k8s/secrets/secrets.template.yaml",
            "NOVEL_ENGINE_JWT_SECRET: REPLACE_ME",
            "NOVEL_ENGINE_JWT_SECRET: kq3N0vZ8pL2mX7rT5wY1bC4dF6gH9jK0",
            "NOVEL_ENGINE_JWT_SECRET: holds a value",
        ),
        (
            "k8s/secrets/secrets.template.yaml",
            "novel_engine:REPLACE_ME@",
            "novel_engine:s3cr3t-pw@",
            "the URL holds a password",
        ),
        (
            "cluster/novel-engine.env.template",
            "GEMINI_API_KEY=\n",
            "GEMINI_API_KEY=AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY\n",
            "GEMINI_API_KEY: holds a value",
        ),
        # requests/limits and probes
        ("k8s/base/redis.yaml", '            limits: {cpu: "1", memory: 1Gi}\n', "", "container redis: no limits"),
        (
            "k8s/jobs/story/rayjob.yaml",
            "              livenessProbe:\n                httpGet: {path: /api/gcs_healthz",
            "              startupProbe:\n                httpGet: {path: /api/gcs_healthz",
            "no livenessProbe",
        ),
        # network policies: a selector on the generated cluster name, a store open to another namespace,
        # the gateway open to every source
        (
            "k8s/base/networkpolicies.yaml",
            "  name: postgres-from-ray\nspec:\n  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: postgres\n"
            "  policyTypes: [Ingress]\n  ingress:\n    - from:\n        - podSelector:\n            matchLabels:\n"
            '              ray.io/is-ray-node: "yes"',
            "  name: postgres-from-ray\nspec:\n  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: postgres\n"
            "  policyTypes: [Ingress]\n  ingress:\n    - from:\n        - podSelector:\n            matchLabels:\n"
            "              ray.io/cluster: novel-engine",
            "must accept exactly the Ray pods",
        ),
        (
            "k8s/base/networkpolicies.yaml",
            "              app.kubernetes.io/component: ray-job-submitter",
            "              app.kubernetes.io/component: job-submitter",
            "a `from` podSelector matches no pod",
        ),
        (
            "k8s/base/networkpolicies.yaml",
            "  ingress:\n    - from:\n        - namespaceSelector:\n            matchLabels:\n"
            "              kubernetes.io/metadata.name: ingress-nginx\n      ports:\n        - {protocol: TCP, port: 8000}",
            "  ingress:\n    - ports:\n        - {protocol: TCP, port: 8000}",
            "a rule without `from` admits every source",
        ),
        (
            "k8s/base/networkpolicies.yaml",
            "  name: ray-gateway-from-ingress\nspec:\n  podSelector:\n    matchLabels:\n"
            '      ray.io/is-ray-node: "yes"\n      novel-engine/workload: serve\n',
            "  name: ray-gateway-from-ingress\nspec:\n  podSelector: {}\n",
            "outside traffic reaches pods that are not the Serve gateway",
        ),
        (
            "k8s/base/networkpolicies.yaml",
            "  podSelector: {}\n  policyTypes: [Ingress]\n",
            "  podSelector: {}\n  policyTypes: [Egress]\n",
            "no default-deny ingress policy",
        ),
    ],
)
def test_a_broken_copy_fails(tree, rel, old, new, expected):
    edit(tree, rel, old, new)
    assert expected in problems_of(tree)


def test_a_patch_that_no_longer_applies_fails_the_build(tree):
    edit(tree, "k8s/overlays/prod/rayservice-scale.yaml", "workerGroupSpecs/1/", "workerGroupSpecs/7/")
    with pytest.raises(KustomizeError, match="workerGroupSpecs/7"):
        dc.check_tree(tree)


def test_missing_crds_fail_with_a_clear_message(tree, monkeypatch):
    monkeypatch.setattr(dc, "CRD_DIR", tree / "nowhere")
    dc.crd_validator.cache_clear()
    dc.crd_problems.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="KubeRay CRDs not found"):
            dc.check_tree(tree)
    finally:
        dc.crd_validator.cache_clear()
        dc.crd_problems.cache_clear()


def test_without_kubectl_or_kustomize_the_build_says_how_to_get_one(tree, monkeypatch):
    import kustomize

    monkeypatch.setattr(kustomize.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="install kubectl"):
        kustomize.build(tree / "k8s/overlays/dev")
