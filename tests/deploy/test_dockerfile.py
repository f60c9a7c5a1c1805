"""The Dockerfile and .dockerignore, checked by reading (no docker here): the CPU torch first, the models
built at image build time where the manifests expect them, the runtime user and paths the manifests use."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

from tests.deploy import checks
from tests.deploy.kustomize import pod_spec, render

REPO = Path(__file__).resolve().parents[2]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages(text: str) -> dict[str, list[tuple[str, str]]]:
    result: dict[str, list[tuple[str, str]]] = {}
    current = None
    for word, rest in instructions(text):
        if word == "FROM":
            current = rest.split()[-1] if " AS " in rest.upper() else rest
            result[current] = []
        elif current is not None:
            result[current].append((word, rest))
    return result


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in stage:
        if word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
    return env


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (REPO / "Dockerfile").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def base_objs() -> list[dict]:
    return render(REPO / "k8s" / "base")


def test_multi_stage_build_then_runtime(dockerfile):
    st = stages(dockerfile)
    assert list(st) == ["build", "runtime"]
    runtime_copies = [rest for word, rest in st["runtime"] if word == "COPY"]
    assert all(c.startswith("--from=build ") for c in runtime_copies), runtime_copies
    runtime_runs = " ".join(rest for word, rest in st["runtime"] if word == "RUN")
    assert "build-essential" not in runtime_runs  # no compiler in the runtime image


def test_cpu_torch_first_then_the_extras_then_the_models(dockerfile):
    runs = [rest for word, rest in stages(dockerfile)["build"] if word == "RUN"]
    joined = "\n".join(runs)
    torch_at = joined.index("pip install torch==2.13.0")
    extras_at = joined.index("pip install '.[models,ml]'")
    models_at = joined.index("thuvien models build")
    assert torch_at < extras_at < models_at
    # the same torch as pyproject's models extra, and nothing that would fetch a CUDA build
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "torch==2.13.0" in pyproject["project"]["optional-dependencies"]["models"]
    assert not re.search(r"cu\d{2,3}|nvidia|--extra-index-url|--index-url", joined)
    assert "torch.version.cuda" in joined  # the build fails on a CUDA torch


def test_models_land_where_the_manifests_read_them(dockerfile, base_objs):
    st = stages(dockerfile)
    build_env, runtime_env = env_of(st["build"]), env_of(st["runtime"])
    config = checks.find_config(base_objs)
    assert build_env["THUVIEN_MODELS_DIR"] == runtime_env["THUVIEN_MODELS_DIR"] == config["THUVIEN_MODELS_DIR"]
    models_dir = runtime_env["THUVIEN_MODELS_DIR"]
    assert f"--from=build {models_dir} {models_dir}" in [rest for word, rest in st["runtime"] if word == "COPY"]
    assert not models_dir.startswith(config["THUVIEN_DATA_DIR"])  # the data dir is a per-pod emptyDir
    assert runtime_env["THUVIEN_DATA_DIR"] == config["THUVIEN_DATA_DIR"]
    known = checks.settings_env_names()
    for key in [*build_env, *runtime_env]:
        assert not key.startswith("THUVIEN_") or key in known, key


def test_runtime_user_and_data_dir_match_the_pods(dockerfile, base_objs):
    runtime = stages(dockerfile)["runtime"]
    user = [rest for word, rest in runtime if word == "USER"][-1]
    uid = int(user.split(":")[0])
    assert uid != 0
    data_dir = checks.find_config(base_objs)["THUVIEN_DATA_DIR"]
    for dep in checks.by_kind(base_objs, "Deployment"):
        spec = pod_spec(dep)
        assert spec["securityContext"]["runAsUser"] == uid
        mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        assert data_dir in mounts


def test_image_installs_every_package_of_the_distribution(dockerfile):
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set()
    for word, rest in stages(dockerfile)["build"]:
        if word == "COPY" and not rest.startswith("--from"):
            copied |= {src.rstrip("/") for src in rest.split()[:-1]}
    assert packages <= copied, packages - copied
    assert {"pyproject.toml", "README.md"} <= copied  # README.md is the distribution's readme


def test_dockerignore_sends_only_what_the_image_copies(dockerfile):
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"  # an allow-list: var/ (data, loans), .venv/, .git/ never reach the builder
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert not allowed & {"var", ".venv", ".git", "tests", "bench"}
    for word, rest in stages(dockerfile)["build"]:
        if word == "COPY" and not rest.startswith("--from"):
            for src in rest.split()[:-1]:
                assert src.rstrip("/") in allowed, src
