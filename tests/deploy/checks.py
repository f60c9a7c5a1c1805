"""Cross-reference checks over rendered manifests: each function returns a list of problems (empty = fine).

They read plain dicts (the output of ``tests/deploy/kustomize.render``), so a test can break a copy on
purpose and see the problem reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from services.common.settings import Settings
from tests.deploy.kustomize import pod_spec

# The services of the suite and their ports (`thuvien serve SERVICE --port PORT`).
SERVICES = {
    "gateway": 8000,
    "nlp": 8001,
    "catalog": 8002,
    "embedding": 8003,
    "search": 8004,
    "qa": 8005,
    "subjects": 8006,
    "recommender": 8007,
}
HPA_SERVICES = {"embedding", "search", "qa"}
GATEWAY = "thuvien-gateway"

Obj = dict[str, Any]


def settings_env_names() -> set[str]:
    """Every env name Settings reads: THUVIEN_<FIELD> and each alias."""
    prefix = Settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for field_name, field in Settings.model_fields.items():
        names.add(f"{prefix}{field_name}".upper())
        for alias in (field.alias, field.validation_alias):
            if isinstance(alias, str):
                names.add(alias.upper())
    return names


def by_kind(objs: Iterable[Obj], kind: str) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind]


def name(obj: Obj) -> str:
    return obj["metadata"]["name"]


def workloads(objs: Iterable[Obj]) -> list[Obj]:
    return [o for o in objs if o["kind"] in {"Deployment", "StatefulSet"}]


def template_labels(obj: Obj) -> dict[str, str]:
    return obj["spec"]["template"]["metadata"].get("labels", {})


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions); an empty selector selects everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def service_selects(service: Obj, labels: dict[str, str]) -> bool:
    selector = service["spec"].get("selector")
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def container_ports(workload: Obj) -> dict[str | int, int]:
    """Container ports of a workload, by number and by name."""
    ports: dict[str | int, int] = {}
    for container in pod_spec(workload)["containers"]:
        for port in container.get("ports", []):
            ports[port["containerPort"]] = port["containerPort"]
            if "name" in port:
                ports[port["name"]] = port["containerPort"]
    return ports


def component(workload: Obj) -> str | None:
    """The suite service a workload runs ('search'…), or None for Qdrant, PostgreSQL, Redis."""
    comp = workload["metadata"].get("labels", {}).get("app.kubernetes.io/component")
    return comp if comp in SERVICES else None


# --- the checks -------------------------------------------------------------------------------------------


def check_selectors_and_ports(objs: list[Obj]) -> list[str]:
    problems = []
    loads = workloads(objs)
    for w in loads:
        if not selector_matches(w["spec"]["selector"], template_labels(w)):
            problems.append(f"{w['kind']}/{name(w)}: selector does not match its pod template labels")
    for svc in by_kind(objs, "Service"):
        selected = [w for w in loads if service_selects(svc, template_labels(w))]
        if not selected:
            problems.append(f"Service/{name(svc)}: selector {svc['spec'].get('selector')} selects no workload")
        for w in selected:
            ports = container_ports(w)
            for port in svc["spec"]["ports"]:
                target = port.get("targetPort", port["port"])
                if target not in ports:
                    problems.append(f"Service/{name(svc)}: targetPort {target!r} is not a container port of {name(w)}")
    return problems


def check_probes(objs: list[Obj]) -> list[str]:
    problems = []
    for w in workloads(objs):
        ports = container_ports(w)
        comp = component(w)
        for container in pod_spec(w)["containers"]:
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = container.get(kind)
                if probe and "httpGet" in probe and probe["httpGet"]["port"] not in ports:
                    problems.append(f"{name(w)}: {kind} port {probe['httpGet']['port']!r} is not a container port")
            if comp is None:
                continue
            want = {"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"}
            for kind, path in want.items():
                probe = container.get(kind)
                if kind != "startupProbe" and not probe:
                    problems.append(f"{name(w)}: no {kind}")
                elif probe and probe.get("httpGet", {}).get("path") != path:
                    problems.append(f"{name(w)}: {kind} must be GET {path}, got {probe.get('httpGet')}")
                elif probe and ports.get(probe["httpGet"]["port"]) != SERVICES[comp]:
                    problems.append(f"{name(w)}: {kind} is not on the service port {SERVICES[comp]}")
    return problems


def check_commands(objs: list[Obj]) -> list[str]:
    problems = []
    found = set()
    for w in by_kind(objs, "Deployment"):
        comp = component(w)
        if comp is None:
            continue
        found.add(comp)
        port = SERVICES[comp]
        container = pod_spec(w)["containers"][0]
        want = ["thuvien", "serve", comp, "--host", "0.0.0.0", "--port", str(port)]
        if container.get("command") != want:
            problems.append(f"{name(w)}: command {container.get('command')} is not {want}")
        if port not in container_ports(w).values():
            problems.append(f"{name(w)}: serves on {port} but has no such containerPort")
        svc = [s for s in by_kind(objs, "Service") if service_selects(s, template_labels(w))]
        if not any(p["port"] == port for s in svc for p in s["spec"]["ports"]):
            problems.append(f"{name(w)}: no Service exposes port {port}")
    for missing in sorted(set(SERVICES) - found):
        problems.append(f"no Deployment for the {missing} service")
    return problems


def check_resources(objs: list[Obj]) -> list[str]:
    problems = []
    for w in workloads(objs):
        for container in pod_spec(w)["containers"]:
            res = container.get("resources", {})
            for part in ("requests", "limits"):
                for what in ("cpu", "memory"):
                    if what not in res.get(part, {}):
                        problems.append(f"{name(w)}/{container['name']}: no {part}.{what}")
    return problems


def env_maps(objs: list[Obj]) -> dict[str, dict[str, str]]:
    """ConfigMap and Secret contents, as 'ConfigMap/name' -> {key: value}."""
    out: dict[str, dict[str, str]] = {}
    for cm in by_kind(objs, "ConfigMap"):
        out[f"ConfigMap/{name(cm)}"] = dict(cm.get("data", {}))
    for secret in by_kind(objs, "Secret"):
        out[f"Secret/{name(secret)}"] = {**secret.get("data", {}), **secret.get("stringData", {})}
    return out


def find_config(objs: list[Obj], config_name: str = "thuvien-config") -> dict[str, str]:
    return env_maps(objs)[f"ConfigMap/{config_name}"]


def check_env(objs: list[Obj]) -> list[str]:
    problems = []
    known = settings_env_names()
    maps = env_maps(objs)
    names: dict[str, str] = {}
    for where, data in maps.items():
        for key in data:
            names[key] = where
    for w in workloads(objs):
        for container in pod_spec(w)["containers"]:
            for env in container.get("env", []):
                names[env["name"]] = f"{name(w)}/{container['name']}"
                ref = env.get("valueFrom", {})
                for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    if key in ref:
                        target = f"{kind}/{ref[key]['name']}"
                        if ref[key]["key"] not in maps.get(target, {}):
                            problems.append(f"{name(w)}: {env['name']} refers to a missing {target} key")
            for src in container.get("envFrom", []):
                for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if key in src and f"{kind}/{src[key]['name']}" not in maps:
                        problems.append(f"{name(w)}: envFrom {kind}/{src[key]['name']} does not exist")
    for env_name, where in sorted(names.items()):
        if env_name.startswith("THUVIEN_") and env_name not in known:
            problems.append(f"{where}: {env_name} is not a setting of services/common/settings.py")
    return problems


def _service_port(objs: list[Obj], host: str, port: int | None) -> tuple[Obj | None, str | None]:
    short = host.split(".")[0]
    services = {name(s): s for s in by_kind(objs, "Service")}
    svc = services.get(short)
    if svc is None:
        return None, f"host {host!r} is not a Service"
    if port not in {p["port"] for p in svc["spec"]["ports"]}:
        return svc, f"Service {short} has no port {port}"
    return svc, None


def check_urls(objs: list[Obj]) -> list[str]:
    problems = []
    merged: dict[str, str] = {}
    for data in env_maps(objs).values():
        merged.update(data)
    loads = workloads(objs)
    for svc_name in SERVICES:
        if svc_name != "gateway" and f"THUVIEN_{svc_name.upper()}_URL" not in merged:
            problems.append(f"THUVIEN_{svc_name.upper()}_URL is not set")
    for key, value in sorted(merged.items()):
        if not (key.startswith("THUVIEN_") and key.endswith("_URL")) or not value:
            continue
        url = urlsplit(value)
        if not url.hostname:
            problems.append(f"{key}={value!r}: no host")
            continue
        svc, problem = _service_port(objs, url.hostname, url.port)
        if problem:
            problems.append(f"{key}={value!r}: {problem}")
            continue
        wanted = key.removeprefix("THUVIEN_").removesuffix("_URL").lower()
        if wanted in SERVICES:
            targets = {component(w) for w in loads if service_selects(svc, template_labels(w))}
            if targets != {wanted}:
                problems.append(f"{key}={value!r}: Service {name(svc)} selects {targets or 'nothing'}, not {wanted}")
    return problems


def check_hpas(objs: list[Obj]) -> list[str]:
    problems = []
    loads = {(w["kind"], name(w)): w for w in workloads(objs)}
    covered = set()
    for hpa in by_kind(objs, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        target = loads.get((ref["kind"], ref["name"]))
        if target is None:
            problems.append(f"HPA/{name(hpa)}: target {ref['kind']}/{ref['name']} does not exist")
            continue
        covered.add(component(target))
        lo, hi = hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"]
        if lo > hi:
            problems.append(f"HPA/{name(hpa)}: minReplicas {lo} > maxReplicas {hi}")
        if not lo <= target["spec"].get("replicas", 1) <= hi:
            problems.append(f"HPA/{name(hpa)}: {ref['name']} starts at {target['spec'].get('replicas')} replicas")
        requests = [c.get("resources", {}).get("requests", {}) for c in pod_spec(target)["containers"]]
        if not all("cpu" in r for r in requests):
            problems.append(f"HPA/{name(hpa)}: CPU utilisation needs CPU requests on {ref['name']}")
    for missing in sorted(HPA_SERVICES - covered):
        problems.append(f"no HPA for {missing}")
    return problems


def check_pdbs(objs: list[Obj]) -> list[str]:
    problems = []
    pdbs = by_kind(objs, "PodDisruptionBudget")
    for pdb in pdbs:
        if not any(selector_matches(pdb["spec"]["selector"], template_labels(w)) for w in workloads(objs)):
            problems.append(f"PDB/{name(pdb)}: selects no workload")
    for w in workloads(objs):
        needs_pdb = component(w) is not None or name(w) == "thuvien-qdrant"
        if needs_pdb and not any(selector_matches(p["spec"]["selector"], template_labels(w)) for p in pdbs):
            problems.append(f"{name(w)}: no PodDisruptionBudget")
    return problems


def _outside(peer: dict[str, Any]) -> bool:
    """A NetworkPolicy peer that admits traffic from outside this namespace's pods."""
    return "ipBlock" in peer or "namespaceSelector" in peer


def check_exposure(objs: list[Obj]) -> list[str]:
    """Only the gateway is reachable from outside, only through the Ingress; everything else is denied."""
    problems = []
    pods = {name(w): template_labels(w) for w in workloads(objs)}
    policies = by_kind(objs, "NetworkPolicy")
    default_deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] in ({}, None)
        and "Ingress" in p["spec"].get("policyTypes", [])
        and not p["spec"].get("ingress")
    ]
    if not default_deny:
        problems.append("no default-deny ingress NetworkPolicy (podSelector {} with no ingress rules)")
    for policy in policies:
        selected = {n for n, labels in pods.items() if selector_matches(policy["spec"]["podSelector"], labels)}
        for rule in policy["spec"].get("ingress", []) or []:
            peers = rule.get("from")
            opens = not peers or any(_outside(peer) for peer in peers)
            if opens and selected - {GATEWAY}:
                problems.append(
                    f"NetworkPolicy/{name(policy)} admits traffic from outside to {sorted(selected - {GATEWAY})}"
                )
    for svc in by_kind(objs, "Service"):
        if svc["spec"].get("type", "ClusterIP") != "ClusterIP" or svc["spec"].get("externalIPs"):
            problems.append(f"Service/{name(svc)}: type {svc['spec'].get('type')} exposes it outside the cluster")
    ingresses = by_kind(objs, "Ingress")
    if not ingresses:
        problems.append("no Ingress for the gateway")
    services = {name(s): s for s in by_kind(objs, "Service")}
    for ing in ingresses:
        backends = [p["backend"]["service"] for r in ing["spec"].get("rules", []) for p in r["http"]["paths"]]
        if "defaultBackend" in ing["spec"]:
            backends.append(ing["spec"]["defaultBackend"]["service"])
        for backend in backends:
            if backend["name"] != GATEWAY:
                problems.append(f"Ingress/{name(ing)} routes to {backend['name']}, not the gateway")
                continue
            port = backend["port"]
            ports = services.get(GATEWAY, {"spec": {"ports": []}})["spec"]["ports"]
            if not any(p.get("name") == port.get("name") or p["port"] == port.get("number") for p in ports):
                problems.append(f"Ingress/{name(ing)}: gateway Service has no port {port}")
    return problems


def check_statefulsets(objs: list[Obj]) -> list[str]:
    problems = []
    services = {name(s): s for s in by_kind(objs, "Service")}
    for sts in by_kind(objs, "StatefulSet"):
        governing = services.get(sts["spec"].get("serviceName"))
        if governing is None or governing["spec"].get("clusterIP") != "None":
            problems.append(f"StatefulSet/{name(sts)}: serviceName is not a headless Service")
        if not sts["spec"].get("volumeClaimTemplates"):
            problems.append(f"StatefulSet/{name(sts)}: no persistent volumes")
    for w in workloads(objs):
        volumes = {v["name"] for v in pod_spec(w).get("volumes", [])}
        volumes |= {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])}
        for container in pod_spec(w)["containers"]:
            for mount in container.get("volumeMounts", []):
                if mount["name"] not in volumes:
                    problems.append(f"{name(w)}: volumeMount {mount['name']} has no volume")
    return problems


def check_qdrant(objs: list[Obj]) -> list[str]:
    problems = []
    merged: dict[str, str] = {}
    for data in env_maps(objs).values():
        merged.update(data)
    qdrant = [s for s in by_kind(objs, "StatefulSet") if name(s) == "thuvien-qdrant"]
    if not qdrant:
        return ["no Qdrant StatefulSet"]
    replicas = qdrant[0]["spec"].get("replicas", 1)
    factor = int(merged.get("THUVIEN_QDRANT_REPLICATION_FACTOR", "0"))
    if not 1 <= factor <= replicas:
        problems.append(f"THUVIEN_QDRANT_REPLICATION_FACTOR={factor} does not fit {replicas} Qdrant peers")
    env = {e["name"]: e.get("value") for e in pod_spec(qdrant[0])["containers"][0].get("env", [])}
    if env.get("QDRANT__CLUSTER__ENABLED") != "true":
        problems.append("Qdrant is not in cluster mode")
    return problems


ALL_CHECKS = (
    check_selectors_and_ports,
    check_probes,
    check_commands,
    check_resources,
    check_env,
    check_urls,
    check_hpas,
    check_pdbs,
    check_exposure,
    check_statefulsets,
    check_qdrant,
)


def all_problems(objs: list[Obj]) -> list[str]:
    return [problem for check in ALL_CHECKS for problem in check(objs)]
