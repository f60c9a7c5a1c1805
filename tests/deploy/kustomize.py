"""A minimal kustomize: just what k8s/ uses, so the tests need no binary.

Supported kustomization fields: ``resources`` (files and directories), ``namespace``, ``replicas``,
``images`` and ``patches`` given as ``path:`` to strategic-merge patches (maps merge recursively, a
``null`` deletes a key, lists of maps that all have a ``name`` merge by name, e.g. containers and env;
every other list is replaced). Anything else is refused, so a manifest change that needs more makes
the tests fail here instead of rendering something kustomize would not.
``test_renderer_matches_kubectl_kustomize`` compares the output with ``kubectl kustomize`` where that exists.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "replicas", "images", "patches"}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "IngressClass",
    "PriorityClass",
}
SCALABLE = {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"}


class KustomizeError(ValueError):
    pass


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def render(directory: Path) -> list[dict[str, Any]]:
    """The objects of the kustomization in ``directory``, transformed as kustomize would."""
    kfile = directory / "kustomization.yaml"
    if not kfile.is_file():
        raise KustomizeError(f"no kustomization.yaml in {directory}")
    spec = yaml.safe_load(kfile.read_text(encoding="utf-8")) or {}
    unsupported = sorted(set(spec) - SUPPORTED)
    if unsupported:
        raise KustomizeError(f"{kfile}: fields this renderer does not implement: {unsupported}")

    objects: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = (directory / entry).resolve()
        objects.extend(render(path) if path.is_dir() else load_yaml_docs(path))
    _check_unique(objects, kfile)

    for patch_entry in spec.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise KustomizeError(f"{kfile}: only 'patches: - path: FILE' is implemented, got {patch_entry}")
        for patch in load_yaml_docs(directory / patch_entry["path"]):
            _apply_patch(objects, patch, kfile)

    if "namespace" in spec:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = spec["namespace"]

    for rep in spec.get("replicas", []):
        hits = [o for o in objects if o["kind"] in SCALABLE and o["metadata"]["name"] == rep["name"]]
        if not hits:
            raise KustomizeError(f"{kfile}: replicas for {rep['name']!r}, which is not a workload here")
        for obj in hits:
            obj["spec"]["replicas"] = int(rep["count"])

    for image in spec.get("images", []):
        for obj in objects:
            for container in _containers(obj):
                container["image"] = _retag(container["image"], image)
    return objects


def _check_unique(objects: list[dict[str, Any]], where: Path) -> None:
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        key = (obj["kind"], obj["metadata"]["name"])
        if key in seen:
            raise KustomizeError(f"{where}: {key[0]}/{key[1]} is defined twice")
        seen.add(key)


def _apply_patch(objects: list[dict[str, Any]], patch: dict[str, Any], where: Path) -> None:
    kind, name = patch.get("kind"), patch.get("metadata", {}).get("name")
    for i, obj in enumerate(objects):
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            objects[i] = strategic_merge(obj, patch)
            return
    raise KustomizeError(f"{where}: patch targets {kind}/{name}, which is not in the resources")


def strategic_merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = strategic_merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(patch, list) and _named(base) and _named(patch):
        out = copy.deepcopy(base)
        index = {item["name"]: i for i, item in enumerate(out)}
        for item in patch:
            if item["name"] in index:
                out[index[item["name"]]] = strategic_merge(out[index[item["name"]]], item)
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj["kind"] in SCALABLE or obj["kind"] in {"DaemonSet", "Job"}:
        return obj["spec"]["template"]["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(obj)
    if spec is None:
        return []
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def _retag(ref: str, image: dict[str, Any]) -> str:
    if "@" in ref:
        name, tag = ref.split("@", 1)
        tag = "@" + tag
    else:
        slash = ref.rfind("/")
        colon = ref.rfind(":")
        name, tag = (ref[:colon], ref[colon:]) if colon > slash else (ref, "")
    if name != image["name"]:
        return ref
    name = image.get("newName", name)
    if "newTag" in image:
        tag = f":{image['newTag']}"
    if "digest" in image:
        tag = f"@{image['digest']}"
    return name + tag
