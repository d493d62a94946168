"""The kustomize stand-in: each supported feature behaves as kustomize does; the rest is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kustomize_lite import KustomizeError, apply_json6902, build, json_merge, strategic_merge

STS = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
       "spec": {"selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}},
                             "spec": {"containers": [
                                 {"name": "db", "image": "postgres:16", "env": [{"name": "A", "value": "1"}],
                                  "resources": {"limits": {"cpu": "1"}}},
                                 {"name": "sidecar", "image": "busybox:1.36"}]}}}}
CR = {"apiVersion": "ray.io/v1", "kind": "RayService", "metadata": {"name": "rs"},
      "spec": {"rayClusterConfig": {"headGroupSpec": {"template": {"spec": {"containers": [
          {"name": "ray-head", "image": "app:1"}]}}},
          "workerGroupSpecs": [{"groupName": "a", "maxReplicas": 1}, {"groupName": "b", "maxReplicas": 2}]}}}
NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}


def _write(folder: Path, files: dict[str, object]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else yaml.safe_dump_all(
            content if isinstance(content, list) and content and isinstance(content[0], dict)
            and "apiVersion" in content[0] else [content])
        path.write_text(text)
    return folder


def test_base_and_overlay_with_namespace_labels_images_and_both_patch_kinds(tmp_path):
    _write(tmp_path, {
        "base/kustomization.yaml": {"namespace": "ne", "resources": ["all.yaml"],
                                    "labels": [{"pairs": {"team": "story"}, "includeSelectors": False}]},
        "base/all.yaml": [NS, STS, CR],
        "dev/kustomization.yaml": {
            "resources": ["../base"],
            "images": [{"name": "app", "newName": "reg.io/app", "newTag": "2"},
                       {"name": "postgres", "newTag": "16.4"}],
            "patches": [{"path": "sts.yaml"},
                        {"path": "rs.yaml", "target": {"group": "ray.io", "kind": "RayService", "name": "rs"}}]},
        "dev/sts.yaml": {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
                         "spec": {"template": {"spec": {"containers": [
                             {"name": "db", "env": [{"name": "B", "value": "2"}], "resources": {"limits": {"cpu": "2"}}}]}}}},
        "dev/rs.yaml": "- op: replace\n  path: /spec/rayClusterConfig/workerGroupSpecs/1/maxReplicas\n  value: 9\n",
    })
    ns, sts, rs = build(tmp_path / "dev")
    assert "namespace" not in ns["metadata"] and sts["metadata"]["namespace"] == rs["metadata"]["namespace"] == "ne"
    assert sts["metadata"]["labels"] == {"team": "story"}
    assert sts["spec"]["selector"] == {"matchLabels": {"app": "db"}}  # includeSelectors: false
    db, sidecar = sts["spec"]["template"]["spec"]["containers"]
    assert db["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]  # merged by name
    assert db["resources"] == {"limits": {"cpu": "2"}} and db["image"] == "postgres:16.4"
    assert sidecar == {"name": "sidecar", "image": "busybox:1.36"}  # untouched, not replaced
    assert [g["maxReplicas"] for g in rs["spec"]["rayClusterConfig"]["workerGroupSpecs"]] == [1, 9]
    head = rs["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert head["image"] == "reg.io/app:2"  # images reach containers at any depth, custom resources too


def test_merge_patch_of_a_custom_resource_replaces_lists_like_kustomize(tmp_path):
    patched = json_merge(CR, {"spec": {"rayClusterConfig": {"workerGroupSpecs": [{"groupName": "only"}]}}})
    assert patched["spec"]["rayClusterConfig"]["workerGroupSpecs"] == [{"groupName": "only"}]
    assert json_merge({"a": 1, "b": 2}, {"a": None}) == {"b": 2}


def test_strategic_merge_delete_directive_and_ports_key():
    out = strategic_merge(STS, {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"}, {"name": "db", "ports": [{"containerPort": 5432}]}]}}}})
    containers = out["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["db"] and containers[0]["ports"] == [{"containerPort": 5432}]
    assert STS["spec"]["template"]["spec"]["containers"][1]["name"] == "sidecar"  # input not mutated


def test_json6902_operations_and_errors():
    doc = {"a": {"b": [1, 2]}, "m": {"x/y": 1}}
    out = apply_json6902(doc, [{"op": "add", "path": "/a/b/-", "value": 3},
                               {"op": "add", "path": "/a/b/0", "value": 0},
                               {"op": "remove", "path": "/m/x~1y"},
                               {"op": "copy", "from": "/a/b", "path": "/c"},
                               {"op": "test", "path": "/c/3", "value": 3}])
    assert out == {"a": {"b": [0, 1, 2, 3]}, "m": {}, "c": [0, 1, 2, 3]}
    with pytest.raises(KustomizeError, match="no 'z'"):
        apply_json6902(doc, [{"op": "replace", "path": "/a/z", "value": 1}])
    with pytest.raises(KustomizeError, match="test failed"):
        apply_json6902(doc, [{"op": "test", "path": "/a/b/0", "value": 9}])


@pytest.mark.parametrize("kustomization, problem", [
    ({"resources": ["x.yaml"], "commonLabels": {"a": "b"}}, "unsupported field"),
    ({"resources": ["x.yaml"], "configMapGenerator": [{"name": "c"}]}, "unsupported field"),
    ({"resources": ["missing.yaml"]}, "does not exist"),
    ({"resources": ["x.yaml"], "labels": [{"pairs": {"a": "b"}, "includeSelectors": True}]}, "not supported"),
    ({"resources": ["x.yaml"], "patches": [{"patch": "- op: remove\n  path: /spec\n",
                                            "target": {"kind": "Nope"}}]}, "matches no resource"),
    ({"resources": ["x.yaml"], "patches": [{"patch": "- op: remove\n  path: /spec\n"}]}, "needs a target"),
    ({"resources": ["x.yaml", "x.yaml"]}, "same id"),
])
def test_unsupported_or_broken_kustomizations_fail_clearly(tmp_path, kustomization, problem):
    _write(tmp_path, {"kustomization.yaml": kustomization, "x.yaml": STS})
    with pytest.raises(KustomizeError, match=problem):
        build(tmp_path)


def test_a_document_that_is_not_an_object_fails(tmp_path):
    _write(tmp_path, {"kustomization.yaml": {"resources": ["x.yaml"]}, "x.yaml": "kind: Service\nmetadata: {}\n"})
    with pytest.raises(KustomizeError, match="not a Kubernetes object"):
        build(tmp_path)
