"""A small, strict stand-in for ``kustomize build`` (no kustomize binary or cluster in the test run).

It supports exactly the kustomization features the manifests in ``k8s/`` use, with kustomize's
semantics, and refuses every other field with a clear error, so a manifest can never silently
build differently here than under ``kubectl apply -k``:

- ``resources``: YAML files (several documents each) and directories holding a kustomization;
- ``namespace``: set on every namespaced object;
- ``labels`` with ``includeSelectors: false``: added to ``metadata.labels`` only;
- ``images``: kustomize's image transformer, which rewrites the ``image`` of every entry of any
  ``containers`` / ``initContainers`` list at any depth (so custom resources such as RayService are
  covered too);
- ``patches``: a list of operations is a JSON 6902 patch (a ``target`` is required); a mapping is a
  strategic merge patch for built-in kinds (lists merged by their patch merge key, ``$patch: delete``)
  and a JSON merge patch (RFC 7386) for custom resources, as kustomize does.

Transformers run in kustomize's order: patches, namespace, labels, images. A patch or target that
matches nothing is an error (kustomize ignores some of those; here a typo must fail).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Iterable

import yaml

__all__ = ["KustomizeError", "build", "load_documents", "apply_json6902", "strategic_merge", "json_merge"]

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume",
                  "StorageClass", "IngressClass", "PriorityClass"}
BUILTIN_GROUPS = {"", "apps", "batch", "networking.k8s.io", "policy", "rbac.authorization.k8s.io", "autoscaling"}
# patch merge keys of the lists our patches touch (from the Kubernetes API's x-kubernetes-patch-merge-key)
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath", "imagePullSecrets": "name", "volumeClaimTemplates": None}
PORT_KEYS = ("containerPort", "port")
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: same result, faster


class KustomizeError(ValueError):
    """The kustomization is invalid or uses a feature this assembler does not implement."""


def load_documents(path: Path) -> list[dict]:
    """Every non-empty YAML document of ``path``; each must be a mapping with apiVersion, kind and a name."""
    try:
        docs = [d for d in yaml.load_all(path.read_text(encoding="utf-8"), Loader=LOADER) if d is not None]
    except yaml.YAMLError as exc:
        raise KustomizeError(f"{path}: not valid YAML: {exc}") from None
    for i, d in enumerate(docs):
        if not isinstance(d, dict) or not d.get("apiVersion") or not d.get("kind") \
                or not (d.get("metadata") or {}).get("name"):
            raise KustomizeError(f"{path}: document {i + 1} is not a Kubernetes object (apiVersion, kind, metadata.name)")
    return docs


def _kustomization(folder: Path) -> dict:
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        if (folder / name).is_file():
            data = yaml.safe_load((folder / name).read_text(encoding="utf-8")) or {}
            unknown = sorted(set(data) - SUPPORTED)
            if unknown:
                raise KustomizeError(f"{folder / name}: unsupported field(s) {unknown}; this assembler implements "
                                     f"{sorted(SUPPORTED)}")
            return data
    raise KustomizeError(f"{folder}: no kustomization.yaml")


def _group_version(doc: dict) -> tuple[str, str]:
    api = doc["apiVersion"]
    return tuple(api.split("/", 1)) if "/" in api else ("", api)  # type: ignore[return-value]


def _matches(doc: dict, target: dict) -> bool:
    group, version = _group_version(doc)
    unknown = set(target) - {"group", "version", "kind", "name", "namespace"}
    if unknown:
        raise KustomizeError(f"patch target: unsupported selector(s) {sorted(unknown)}")
    checks = {"group": group, "version": version, "kind": doc["kind"], "name": doc["metadata"]["name"],
              "namespace": doc["metadata"].get("namespace", "")}
    return all(re.fullmatch(str(target[k]), checks[k]) for k in target)


# -- JSON 6902 -------------------------------------------------------------------------------------
def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise KustomizeError(f"JSON patch path {path!r} must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], path: str) -> Any:
    for p in parts:
        try:
            doc = doc[int(p)] if isinstance(doc, list) else doc[p]
        except (KeyError, IndexError, ValueError, TypeError):
            raise KustomizeError(f"JSON patch path {path!r}: no {p!r}") from None
    return doc


def apply_json6902(doc: dict, ops: Iterable[dict]) -> dict:
    """Apply RFC 6902 operations (add, remove, replace, move, copy, test) to a copy of ``doc``."""
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        parts = _pointer(path)
        if not parts:
            raise KustomizeError("JSON patch: replacing the whole document is not supported")
        parent, last = _walk(doc, parts[:-1], path), parts[-1]
        if kind in ("add", "replace"):
            if "value" not in op:
                raise KustomizeError(f"JSON patch {kind} {path!r} has no value")
            value = copy.deepcopy(op["value"])
            if isinstance(parent, list):
                if last == "-" and kind == "add":
                    parent.append(value)
                    continue
                i = int(last)
                if kind == "add":
                    parent.insert(i, value)
                else:
                    _walk(parent, [last], path)
                    parent[i] = value
            else:
                if kind == "replace":
                    _walk(parent, [last], path)  # replace requires the member to exist
                parent[last] = value
        elif kind == "remove":
            _walk(parent, [last], path)
            del parent[int(last) if isinstance(parent, list) else last]
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            value = copy.deepcopy(_walk(doc, src, op.get("from", "")))
            if kind == "move":
                src_parent = _walk(doc, src[:-1], op["from"])
                del src_parent[int(src[-1]) if isinstance(src_parent, list) else src[-1]]
            doc = apply_json6902(doc, [{"op": "add", "path": path, "value": value}])
        elif kind == "test":
            if _walk(doc, parts, path) != op.get("value"):
                raise KustomizeError(f"JSON patch test failed at {path!r}")
        else:
            raise KustomizeError(f"JSON patch: unknown op {kind!r}")
    return doc


# -- merge patches ---------------------------------------------------------------------------------
def json_merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: mappings merge, ``null`` deletes, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = json_merge(out.get(k), v)
    return out


def _list_key(field: str, items: list) -> str | None:
    if field == "ports":
        for key in PORT_KEYS:
            if items and all(isinstance(i, dict) and key in i for i in items):
                return key
        return None
    return MERGE_KEYS.get(field)


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """Kubernetes strategic merge patch for the fields our patches use (see ``MERGE_KEYS``)."""
    if isinstance(patch, dict) and isinstance(target, dict):
        out = copy.deepcopy(target)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = strategic_merge(out[k], v, k)
            else:
                out[k] = _strip_directives(v)
        return out
    if isinstance(patch, list) and isinstance(target, list):
        key = _list_key(field, patch)
        if key is None:
            return _strip_directives(patch)  # no merge key: the patch's list replaces the old one
        out = copy.deepcopy(target)
        for item in patch:
            found = next((i for i, old in enumerate(out) if old.get(key) == item.get(key)), None)
            if item.get("$patch") == "delete":
                if found is not None:
                    out.pop(found)
            elif found is None:
                out.append(_strip_directives(item))
            else:
                out[found] = strategic_merge(out[found], item, field)
        return out
    return _strip_directives(patch)


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$patch")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return copy.deepcopy(value)


def _apply_patch(docs: list[dict], entry: dict, folder: Path) -> list[dict]:
    if "path" in entry:
        text = (folder / entry["path"]).read_text(encoding="utf-8")
    elif "patch" in entry:
        text = entry["patch"]
    else:
        raise KustomizeError(f"{folder}: a patch needs `path` or `patch`")
    body = yaml.safe_load(text)
    target = entry.get("target")
    if isinstance(body, list):
        if not target:
            raise KustomizeError(f"{folder}: JSON 6902 patch {entry.get('path', '')!r} needs a target")
        hits = [i for i, d in enumerate(docs) if _matches(d, target)]
        if not hits:
            raise KustomizeError(f"{folder}: patch target {target} matches no resource")
        for i in hits:
            docs[i] = apply_json6902(docs[i], body)
        return docs
    if not isinstance(body, dict):
        raise KustomizeError(f"{folder}: patch {entry.get('path', '')!r} is neither a list nor a mapping")
    target = target or {"kind": body["kind"], "name": body["metadata"]["name"]}
    hits = [i for i, d in enumerate(docs) if _matches(d, target)]
    if not hits:
        raise KustomizeError(f"{folder}: patch target {target} matches no resource")
    for i in hits:
        builtin = _group_version(docs[i])[0] in BUILTIN_GROUPS
        patch = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}
        docs[i] = strategic_merge(docs[i], patch) if builtin else json_merge(docs[i], patch)
    return docs


# -- images ----------------------------------------------------------------------------------------
def _split_image(image: str) -> tuple[str, str, str]:
    """``registry:5000/app:1.2@sha256:..`` -> (``registry:5000/app``, ``1.2``, ``sha256:..``)."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:], digest
    return name, "", digest


def _retag(node: Any, rules: list[dict]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("containers", "initContainers") and isinstance(v, list):
                for c in v:
                    if isinstance(c, dict) and isinstance(c.get("image"), str):
                        c["image"] = _new_image(c["image"], rules)
            _retag(v, rules)
    elif isinstance(node, list):
        for v in node:
            _retag(v, rules)


def _new_image(image: str, rules: list[dict]) -> str:
    name, tag, digest = _split_image(image)
    for rule in rules:
        if rule.get("name") == name:
            name = rule.get("newName", name)
            if "digest" in rule:
                return f"{name}@{rule['digest']}"
            tag = str(rule.get("newTag", tag))
            break
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


# -- build -----------------------------------------------------------------------------------------
def _ident(doc: dict) -> tuple[str, str, str, str]:
    return (_group_version(doc)[0], doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])


def build(folder: str | Path) -> list[dict]:
    """The objects ``kubectl kustomize folder`` would print, in resource order."""
    folder = Path(folder)
    k = _kustomization(folder)
    docs: list[dict] = []
    for res in k.get("resources", []):
        path = (folder / res).resolve()
        if path.is_dir():
            docs.extend(build(path))
        elif path.is_file():
            docs.extend(load_documents(path))
        else:
            raise KustomizeError(f"{folder}: resource {res!r} does not exist")
    for entry in k.get("patches", []):
        docs = _apply_patch(docs, entry, folder)
    if k.get("namespace"):
        for d in docs:
            if d["kind"] not in CLUSTER_SCOPED:
                d["metadata"]["namespace"] = k["namespace"]
    for group in k.get("labels", []):
        if group.get("includeSelectors") or group.get("includeTemplates"):
            raise KustomizeError(f"{folder}: labels with includeSelectors/includeTemplates are not supported "
                                 "(they would also rewrite selectors; use includeSelectors: false)")
        for d in docs:
            d["metadata"].setdefault("labels", {}).update({str(a): str(b) for a, b in group["pairs"].items()})
    if k.get("images"):
        for d in docs:
            _retag(d, k["images"])
    seen: set = set()
    for d in docs:
        ident = _ident(d)
        if ident in seen:
            raise KustomizeError(f"{folder}: two resources with the same id {ident}")
        seen.add(ident)
    return docs
