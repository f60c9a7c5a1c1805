"""k8s/: render the base and both overlays, validate every object against the Kubernetes schemas
(offline, kubernetes-validate) and check the cross-references (tests/deploy/checks.py)."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.deploy import checks
from tests.deploy.kustomize import KustomizeError, pod_spec, render, strategic_merge

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
TARGETS = {"base": K8S / "base", "dev": K8S / "overlays" / "dev", "prod": K8S / "overlays" / "prod"}
# Oldest and newest Kubernetes minor versions we validate against (kubernetes-validate ships the schemas).
K8S_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {target: render(path) for target, path in TARGETS.items()}


def find(objs: list[dict], kind: str, name: str) -> dict:
    hits = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(hits) == 1, f"{kind}/{name}: {len(hits)} found"
    return hits[0]


# --- rendering ------------------------------------------------------------------------------------------


def test_base_has_every_part(rendered):
    objs = rendered["base"]
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objs}
    for svc in checks.SERVICES:
        assert ("Deployment", f"thuvien-{svc}") in kinds
        assert ("Service", f"thuvien-{svc}") in kinds
        assert ("PodDisruptionBudget", f"thuvien-{svc}") in kinds
    for svc in checks.HPA_SERVICES:
        assert ("HorizontalPodAutoscaler", f"thuvien-{svc}") in kinds
    for sts in ("thuvien-qdrant", "thuvien-postgres", "thuvien-redis"):
        assert ("StatefulSet", sts) in kinds
    assert {"ConfigMap", "Secret", "NetworkPolicy", "Ingress"} <= {k for k, _ in kinds}
    assert find(objs, "StatefulSet", "thuvien-qdrant")["spec"]["replicas"] == 3
    assert find(objs, "ConfigMap", "thuvien-config")["data"]["THUVIEN_QDRANT_REPLICATION_FACTOR"] == "2"


def test_dev_runs_one_replica_of_everything(rendered):
    objs = rendered["dev"]
    for w in checks.workloads(objs):
        assert w["spec"]["replicas"] == 1, w["metadata"]["name"]
    for hpa in checks.by_kind(objs, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["minReplicas"] == hpa["spec"]["maxReplicas"] == 1
    assert find(objs, "ConfigMap", "thuvien-config")["data"]["THUVIEN_QDRANT_REPLICATION_FACTOR"] == "1"
    # The patch changed one field of the container and kept the rest.
    emb = pod_spec(find(objs, "Deployment", "thuvien-embedding"))["containers"][0]
    assert emb["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert emb["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_prod_scales_and_pins_the_image(rendered):
    objs = rendered["prod"]
    assert find(objs, "StatefulSet", "thuvien-qdrant")["spec"]["replicas"] == 3
    assert find(objs, "Deployment", "thuvien-gateway")["spec"]["replicas"] >= 2
    for w in checks.by_kind(objs, "Deployment"):
        image = pod_spec(w)["containers"][0]["image"]
        assert image == "registry.example.org/thuvien:0.1.0", image
    qdrant = pod_spec(find(objs, "StatefulSet", "thuvien-qdrant"))["containers"][0]
    assert qdrant["image"].startswith("qdrant/qdrant:v")  # the images transformer left it alone


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_overlays_set_their_namespace(rendered, target):
    namespaces = [o for o in rendered[target] if o["kind"] == "Namespace"]
    assert len(namespaces) == 1
    ns = namespaces[0]["metadata"]["name"]
    for obj in rendered[target]:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == ns, obj["metadata"]["name"]


def _key(obj: dict) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with its built-in kustomize) is not installed")
@pytest.mark.parametrize("target", list(TARGETS))
def test_renderer_matches_kubectl_kustomize(rendered, target):
    out = subprocess.run(
        ["kubectl", "kustomize", str(TARGETS[target])], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    theirs = {_key(o): o for o in yaml.safe_load_all(out) if o}
    ours = {_key(o): o for o in rendered[target]}
    assert set(ours) == set(theirs)
    for key, obj in ours.items():
        assert obj == theirs[key], key


def test_renderer_refuses_what_it_does_not_implement(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(KustomizeError, match="commonLabels"):
        render(tmp_path)
    (tmp_path / "kustomization.yaml").write_text("resources: []\nreplicas: [{name: nothing, count: 2}]\n")
    with pytest.raises(KustomizeError, match="nothing"):
        render(tmp_path)


def test_strategic_merge_merges_named_lists_and_replaces_others():
    base = {"c": [{"name": "a", "x": 1, "y": 2}, {"name": "b"}], "l": [1, 2], "d": {"k": 1, "gone": 2}}
    patch = {"c": [{"name": "a", "x": 9}], "l": [3], "d": {"gone": None}}
    assert strategic_merge(base, patch) == {
        "c": [{"name": "a", "x": 9, "y": 2}, {"name": "b"}],
        "l": [3],
        "d": {"k": 1},
    }


# --- schemas --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("target", list(TARGETS))
def test_every_object_matches_the_kubernetes_schema(rendered, target, version):
    errors = []
    for obj in rendered[target]:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {'.'.join(map(str, exc.path))}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_schema_validation_catches_a_broken_object(rendered):
    dep = copy.deepcopy(find(rendered["base"], "Deployment", "thuvien-search"))
    dep["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSIONS[-1], strict=True)
    dep = copy.deepcopy(find(rendered["base"], "Deployment", "thuvien-search"))
    pod_spec(dep)["containers"][0]["livenessProb"] = {"httpGet": {"path": "/healthz", "port": "http"}}
    with pytest.raises(kubernetes_validate.ValidationError):  # strict: unknown fields are errors
        kubernetes_validate.validate(dep, K8S_VERSIONS[-1], strict=True)


# --- cross-references -----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", list(TARGETS))
def test_cross_references_hold(rendered, target):
    problems = checks.all_problems(rendered[target])
    assert not problems, "\n".join(problems)


def test_settings_env_names_come_from_settings():
    names = checks.settings_env_names()
    assert {"THUVIEN_DATA_DIR", "THUVIEN_DATABASE_URL", "THUVIEN_MODELS_DIR", "THUVIEN_SEARCH_URL"} <= names
    assert "THUVIEN_NO_SUCH_SETTING" not in names


def test_the_services_use_the_qdrant_statefulset(rendered):
    data = find(rendered["base"], "ConfigMap", "thuvien-config")["data"]
    assert data["THUVIEN_VECTOR_BACKEND"] == "qdrant"
    assert data["THUVIEN_QDRANT_URL"] == "http://thuvien-qdrant:6333"
    assert {"THUVIEN_VECTOR_BACKEND", "THUVIEN_QDRANT_URL", "THUVIEN_QDRANT_REPLICATION_FACTOR"} <= (
        checks.settings_env_names()
    )


def _mutate_selector(objs):
    find(objs, "Service", "thuvien-search")["spec"]["selector"]["app.kubernetes.io/name"] = "thuvien-serch"


def _mutate_target_port(objs):
    find(objs, "Service", "thuvien-qa")["spec"]["ports"][0]["targetPort"] = "web"


def _mutate_probe_path(objs):
    pod_spec(find(objs, "Deployment", "thuvien-nlp"))["containers"][0]["readinessProbe"]["httpGet"]["path"] = "/ready"


def _mutate_probe_port(objs):
    pod_spec(find(objs, "Deployment", "thuvien-catalog"))["containers"][0]["livenessProbe"]["httpGet"]["port"] = 9999


def _mutate_container_port(objs):
    pod_spec(find(objs, "Deployment", "thuvien-subjects"))["containers"][0]["ports"][0]["containerPort"] = 9006


def _mutate_command(objs):
    pod_spec(find(objs, "Deployment", "thuvien-recommender"))["containers"][0]["command"][-1] = "8000"


def _mutate_env_name(objs):
    find(objs, "ConfigMap", "thuvien-config")["data"]["THUVIEN_EMBEDING_BACKEND"] = "onnx"


def _mutate_url_host(objs):
    find(objs, "ConfigMap", "thuvien-config")["data"]["THUVIEN_QA_URL"] = "http://thuvien-answers:8005"


def _mutate_url_port(objs):
    find(objs, "ConfigMap", "thuvien-config")["data"]["THUVIEN_NLP_URL"] = "http://thuvien-nlp:8000"


def _mutate_url_swapped(objs):
    find(objs, "ConfigMap", "thuvien-config")["data"]["THUVIEN_SEARCH_URL"] = "http://thuvien-embedding:8003"


def _mutate_url_missing(objs):
    del find(objs, "ConfigMap", "thuvien-config")["data"]["THUVIEN_CATALOG_URL"]


def _mutate_secret_url(objs):
    find(objs, "Secret", "thuvien-secrets")["stringData"]["THUVIEN_DATABASE_URL"] = "postgresql://u:p@db:5432/x"


def _mutate_hpa_target(objs):
    find(objs, "HorizontalPodAutoscaler", "thuvien-qa")["spec"]["scaleTargetRef"]["name"] = "thuvien-q"


def _mutate_hpa_removed(objs):
    objs.remove(find(objs, "HorizontalPodAutoscaler", "thuvien-embedding"))


def _mutate_netpol_open_search(objs):
    policy = find(objs, "NetworkPolicy", "thuvien-internal")
    policy["spec"]["ingress"].append({"from": [{"namespaceSelector": {}}]})


def _mutate_netpol_allow_all(objs):
    find(objs, "NetworkPolicy", "thuvien-internal")["spec"]["ingress"].append({})


def _mutate_no_default_deny(objs):
    objs.remove(find(objs, "NetworkPolicy", "thuvien-default-deny-ingress"))


def _mutate_nodeport(objs):
    find(objs, "Service", "thuvien-embedding")["spec"]["type"] = "NodePort"


def _mutate_ingress_backend(objs):
    rule = find(objs, "Ingress", "thuvien")["spec"]["rules"][0]
    rule["http"]["paths"][0]["backend"]["service"]["name"] = "thuvien-search"


def _mutate_no_limits(objs):
    del pod_spec(find(objs, "Deployment", "thuvien-embedding"))["containers"][0]["resources"]["limits"]


def _mutate_pdb_selector(objs):
    find(objs, "PodDisruptionBudget", "thuvien-gateway")["spec"]["selector"]["matchLabels"] = {"x": "y"}


def _mutate_qdrant_replication(objs):
    find(objs, "ConfigMap", "thuvien-config")["data"]["THUVIEN_QDRANT_REPLICATION_FACTOR"] = "4"


def _mutate_sts_service(objs):
    find(objs, "StatefulSet", "thuvien-postgres")["spec"]["serviceName"] = "thuvien-pg"


def _mutate_secret_key(objs):
    del find(objs, "Secret", "thuvien-secrets")["stringData"]["POSTGRES_PASSWORD"]


MUTATIONS = {
    "service selector": (_mutate_selector, "selects no workload"),
    "target port": (_mutate_target_port, "targetPort 'web'"),
    "probe path": (_mutate_probe_path, "readinessProbe must be GET /readyz"),
    "probe port": (_mutate_probe_port, "livenessProbe port 9999"),
    "container port": (_mutate_container_port, "no such containerPort"),
    "command port": (_mutate_command, "command"),
    "unknown env name": (_mutate_env_name, "THUVIEN_EMBEDING_BACKEND is not a setting"),
    "url host": (_mutate_url_host, "'thuvien-answers' is not a Service"),
    "url port": (_mutate_url_port, "has no port 8000"),
    "url to another service": (_mutate_url_swapped, "not search"),
    "url missing": (_mutate_url_missing, "THUVIEN_CATALOG_URL is not set"),
    "database url host": (_mutate_secret_url, "'db' is not a Service"),
    "hpa target": (_mutate_hpa_target, "does not exist"),
    "hpa missing": (_mutate_hpa_removed, "no HPA for embedding"),
    "network policy from other namespaces": (_mutate_netpol_open_search, "admits traffic from outside"),
    "network policy allow all": (_mutate_netpol_allow_all, "admits traffic from outside"),
    "no default deny": (_mutate_no_default_deny, "no default-deny"),
    "nodeport": (_mutate_nodeport, "exposes it outside"),
    "ingress to another service": (_mutate_ingress_backend, "not the gateway"),
    "no limits": (_mutate_no_limits, "no limits.cpu"),
    "pdb selector": (_mutate_pdb_selector, "thuvien-gateway: no PodDisruptionBudget"),
    "qdrant replication": (_mutate_qdrant_replication, "does not fit 3 Qdrant peers"),
    "statefulset service": (_mutate_sts_service, "not a headless Service"),
    "secret key": (_mutate_secret_key, "missing Secret/thuvien-secrets key"),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_checker_flags_a_broken_copy(rendered, mutation):
    mutate, expected = MUTATIONS[mutation]
    objs = copy.deepcopy(rendered["base"])
    assert not checks.all_problems(objs)
    mutate(objs)
    problems = checks.all_problems(objs)
    assert any(expected in p for p in problems), problems
