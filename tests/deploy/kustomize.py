"""``kubectl kustomize`` for the deployment tests: the overlays in ``k8s/`` built as a cluster would build them.

The real tool is used (not a re-implementation), so a manifest can never build differently here than
under ``kubectl apply -k``. It needs ``kubectl`` (which bundles kustomize) or a standalone
``kustomize`` on the PATH; without either the tests fail and say how to get one.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

__all__ = ["KustomizeError", "build", "load_documents", "kustomize_command"]

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: same result, faster
INSTALL_HINT = (
    "install kubectl (https://kubernetes.io/docs/tasks/tools/; it bundles kustomize) or a standalone "
    "kustomize (https://kubectl.docs.kubernetes.io/installation/kustomize/), then run the tests again"
)


class KustomizeError(ValueError):
    """The kustomization does not build, or a document is not a Kubernetes object."""


def kustomize_command() -> list[str]:
    """The command that builds a kustomization: ``kubectl kustomize`` or ``kustomize build``."""
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    raise FileNotFoundError(f"neither kubectl nor kustomize is on the PATH: {INSTALL_HINT}")


def _documents(text: str, source: str) -> list[dict]:
    try:
        docs = [d for d in yaml.load_all(text, Loader=LOADER) if d is not None]
    except yaml.YAMLError as exc:
        raise KustomizeError(f"{source}: not valid YAML: {exc}") from None
    for i, d in enumerate(docs):
        if (
            not isinstance(d, dict)
            or not d.get("apiVersion")
            or not d.get("kind")
            or not (d.get("metadata") or {}).get("name")
        ):
            raise KustomizeError(
                f"{source}: document {i + 1} is not a Kubernetes object (apiVersion, kind, metadata.name)"
            )
    return docs


def load_documents(path: Path) -> list[dict]:
    """Every non-empty YAML document of ``path``; each must be a mapping with apiVersion, kind and a name."""
    return _documents(path.read_text(encoding="utf-8"), str(path))


def build(folder: Path) -> list[dict]:
    """The objects ``kubectl kustomize folder`` produces; its error message when the build fails."""
    done = subprocess.run([*kustomize_command(), str(folder)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise KustomizeError(f"{folder}: kustomize failed: {done.stderr.strip()}")
    return _documents(done.stdout, f"kustomize build of {folder}")
