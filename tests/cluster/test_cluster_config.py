"""cluster.yaml and k8s/: checked offline with Ray's, Kubernetes' and MLflow's own validators and parsers."""

from __future__ import annotations

import copy
import json
import os
import shlex
import shutil
import subprocess
import time
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from mlflow.cli import server as mlflow_server_cli
from mlflow.server.security_utils import get_default_allowed_hosts, is_allowed_host_header
from ray.autoscaler._private.util import prepare_config, validate_config

from tests.helpers import ROOT

CLUSTER_YAML = ROOT / "cluster.yaml"
RAYCLUSTER_YAML = ROOT / "k8s" / "raycluster.yaml"
DOCKERFILE = ROOT / "k8s" / "Dockerfile"
CLUSTER_DOC = ROOT / "docs" / "cluster.md"
RAYCLUSTER_SCHEMA = ROOT / "tests" / "fixtures" / "kuberay" / "raycluster_v1.schema.json"
K8S_VERSION = kubernetes_validate.latest_version()
ENV_FILE_MARKER = "~/.lorapareto/env.sh"
REQUIRED_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "MLFLOW_DISABLE_TELEMETRY": "true"}


@cache
def _raw_cluster() -> dict[str, Any]:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def _prepared_cluster() -> dict[str, Any]:
    """What `ray up` validates: the launcher merges defaults first (prepare_config: validating the raw YAML fails on
    a missing internal field), then validates."""
    return prepare_config(copy.deepcopy(_raw_cluster()))


@cache
def _k8s_documents() -> tuple[dict[str, Any], ...]:
    return tuple(doc for doc in yaml.safe_load_all(RAYCLUSTER_YAML.read_text()) if doc)


def _k8s_object(kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in _k8s_documents() if doc["kind"] == kind]
    return found


def _worker_types(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: node_type
        for name, node_type in config["available_node_types"].items()
        if name != config["head_node_type"]
    }


def _env_file_command(commands: list[str]) -> str:
    (found,) = [command for command in commands if ENV_FILE_MARKER in command]
    return found


def _run_bash(script: str, home: Path, extra_env: dict[str, str] | None = None) -> str:
    env = {"HOME": str(home), "PATH": os.environ["PATH"], **(extra_env or {})}
    return subprocess.run(
        ["bash", "-c", script], env=env, check=True, capture_output=True, text=True, timeout=60
    ).stdout


def _sourced_env(command: str, home: Path, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """Run the env-file setup command as the launcher would, then read what a login shell gets."""
    _run_bash(command, home, extra_env)
    dumped = _run_bash(f". {home}/.lorapareto/env.sh && env -0", home)
    return dict(item.split("=", 1) for item in dumped.split("\0") if "=" in item)


def _mlflow_server_params(args: list[str], env: dict[str, str], monkeypatch) -> dict[str, Any]:
    """Parse `mlflow server` arguments with MLflow's own CLI: unknown or misspelt options fail here."""
    for name in list(os.environ):
        if name.startswith("MLFLOW_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return mlflow_server_cli.make_context("server", list(args)).params


def _pod_templates(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc["kind"] == "Deployment":
        return [doc["spec"]["template"]]
    if doc["kind"] == "RayCluster":
        spec = doc["spec"]
        return [spec["headGroupSpec"]["template"]] + [group["template"] for group in spec["workerGroupSpecs"]]
    return []


def _pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [template["spec"] for template in _pod_templates(doc)]


# cluster.yaml: Ray's cluster launcher


def test_cluster_yaml_passes_rays_own_validator():
    validate_config(_prepared_cluster())


def test_rays_validator_rejects_a_broken_copy():
    unknown_key = copy.deepcopy(_raw_cluster())
    unknown_key["worker_nodes_typo"] = {}
    with pytest.raises(jsonschema.ValidationError):
        validate_config(prepare_config(unknown_key))

    too_many_minimum = copy.deepcopy(_raw_cluster())
    for node_type in _worker_types(too_many_minimum).values():
        node_type["min_workers"] = too_many_minimum["max_workers"] + 1
    with pytest.raises(ValueError, match="max_workers"):
        validate_config(prepare_config(too_many_minimum))


def test_provider_is_aws_with_region_marked_for_the_user():
    config = _raw_cluster()
    assert config["provider"]["type"] == "aws"
    assert config["provider"]["region"]
    region_line = next(line for line in CLUSTER_YAML.read_text().splitlines() if "region:" in line)
    assert "CHANGE" in region_line


def test_gpu_worker_type_scales_between_min_and_max():
    config = _prepared_cluster()
    head = config["available_node_types"][config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0
    gpu_workers = {
        name: node_type
        for name, node_type in _worker_types(config).items()
        if node_type["resources"].get("GPU", 0) >= 1
    }
    assert gpu_workers, "no worker type offers a GPU"
    for node_type in gpu_workers.values():
        assert 0 <= node_type["min_workers"] < node_type["max_workers"] <= config["max_workers"]
        assert node_type["node_config"]["InstanceType"].split(".")[0] in {"g6e", "g5", "g6"}


def test_project_is_mounted_and_installed_through_the_pinned_install_path():
    config = _prepared_cluster()
    project_mount = next(remote for remote, local in config["file_mounts"].items() if local == ".")
    install_script = ROOT / "scripts" / "install.sh"
    for commands in (config["head_setup_commands"], config["worker_setup_commands"]):
        (install,) = [command for command in commands if "scripts/install.sh" in command]
        assert f"{project_mount}/scripts/install.sh" in install
    # The pins the nodes get are the ones `make install` applies.
    assert '-c "$here/constraints.txt"' in install_script.read_text()
    constraints = (ROOT / "constraints.txt").read_text().splitlines()
    assert "torch==2.13.0" in constraints
    assert "litellm!=1.107.*" in constraints
    assert "amdsmi" in install_script.read_text()


def test_env_file_gives_every_node_the_required_variables(tmp_path):
    config = _prepared_cluster()
    head_command = _env_file_command(config["head_setup_commands"])
    assert head_command == _env_file_command(config["worker_setup_commands"])

    worker_home = tmp_path / "worker"
    worker_home.mkdir()
    worker_env = _sourced_env(head_command, worker_home, {"RAY_HEAD_IP": "10.1.2.3"})
    for name, value in REQUIRED_ENV.items():
        assert worker_env[name] == value
    assert worker_env["RAY_AUTH_MODE"] == "token"
    assert worker_env["MLFLOW_TRACKING_URI"] == "http://10.1.2.3:5000"
    assert worker_env["LORAPARETO_STORAGE_PATH"].startswith("s3://")
    assert worker_env["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://")
    assert worker_env["PATH"].startswith(f"{worker_home}/venv/bin:")
    # MLflow 3's default Host check admits a private address, so workers need no --allowed-hosts.
    assert is_allowed_host_header(get_default_allowed_hosts(), "10.1.2.3:5000")

    # Rerunning setup (every `ray up`) must not stack .bashrc lines.
    _run_bash(head_command, worker_home, {"RAY_HEAD_IP": "10.1.2.3"})
    assert (worker_home / ".bashrc").read_text().count(". ~/.lorapareto/env.sh") == 1


def test_head_tracking_uri_is_its_own_address(tmp_path):
    own_addresses = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    if not own_addresses:
        pytest.skip("hostname -I reports no address on this machine")
    head_env = _sourced_env(_env_file_command(_prepared_cluster()["head_setup_commands"]), tmp_path)
    assert head_env["MLFLOW_TRACKING_URI"] == f"http://{own_addresses[0]}:5000"


@pytest.mark.skipif(not shutil.which("setsid"), reason="setsid (util-linux) is not installed")
def test_head_starts_an_mlflow_server_with_s3_artifacts(tmp_path, monkeypatch):
    config = _prepared_cluster()
    start_commands = config["head_start_ray_commands"]
    (server_command,) = [command for command in start_commands if "mlflow server" in command]
    assert any("ray start --head" in command for command in start_commands)

    # Run the real start line with `mlflow` resolving to a recorder of its argv, then parse that
    # argv with MLflow's own CLI: the shell quoting and the option names are both checked.
    home = tmp_path / "head"
    (home / "mlflow").mkdir(parents=True)
    recorder = home / "venv" / "bin" / "mlflow"
    recorder.parent.mkdir(parents=True)
    argv_file = tmp_path / "argv"
    recorder.write_text(
        f'#!/bin/sh\nprintf "%s\\0" "$@" > {argv_file}.part && mv {argv_file}.part {argv_file}\n'
    )
    recorder.chmod(0o755)
    env_command = _env_file_command(config["head_setup_commands"])
    _run_bash(env_command, home)
    _run_bash(f". {home}/.lorapareto/env.sh && {server_command}", home)
    deadline = time.monotonic() + 30
    while not argv_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    argv = argv_file.read_text().split("\0")[:-1]
    assert argv[0] == "server"
    assert (home / "mlflow" / "server.pid").read_text().strip().isdigit()

    params = _mlflow_server_params(argv[1:], {}, monkeypatch)
    assert params["host"] == "0.0.0.0"
    assert params["port"] == 5000
    assert params["backend_store_uri"] == f"sqlite:///{home}/mlflow/mlflow.db"
    assert params["artifacts_destination"].startswith("s3://")
    assert params["serve_artifacts"] is True


def test_auth_token_is_mounted_from_the_launching_machine_not_written_here():
    config = _raw_cluster()
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    text = CLUSTER_YAML.read_text()
    assert "RAY_AUTH_TOKEN=" not in text
    assert "aws_secret_access_key" not in text.lower()


# docs/cluster.md: the commands the README's "Run on a cluster" section promises


def test_cluster_doc_covers_up_submit_dashboard_and_down():
    doc = CLUSTER_DOC.read_text()
    for expected in (
        "ray get-auth-token --generate",
        "ray up cluster.yaml",
        "ray dashboard cluster.yaml",
        "ray job submit",
        "python -m search.run --preset paper --address auto",
        "--set search.storage_path=",
        "--set tracking.uri=",
        "ray down cluster.yaml",
        "kubectl apply -f k8s/raycluster.yaml",
        "kubectl port-forward",
    ):
        assert expected in doc, expected


# k8s/: the KubeRay route


@pytest.mark.parametrize(
    "kind", ["ConfigMap", "ServiceAccount", "PersistentVolumeClaim", "Deployment", "Service"]
)
def test_core_objects_pass_kubernetes_strict_schemas(kind):
    kubernetes_validate.validate(_k8s_object(kind), K8S_VERSION, strict=True)


def test_kubernetes_strict_schema_rejects_a_misspelt_field():
    deployment = copy.deepcopy(_k8s_object("Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRefs"] = {"name": "x"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def _raycluster_errors(raycluster: dict[str, Any]) -> list[str]:
    schema = json.loads(RAYCLUSTER_SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = [error.message for error in validator.iter_errors(raycluster)]
    for template in _pod_templates(raycluster):
        pod_template = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": "t"},
            "template": template,
        }
        try:
            kubernetes_validate.validate(pod_template, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(str(error))
    return errors


def test_raycluster_matches_the_kuberay_crd_fields():
    assert _raycluster_errors(_k8s_object("RayCluster")) == []


def test_raycluster_check_rejects_misspelt_fields():
    misspelt_group = copy.deepcopy(_k8s_object("RayCluster"))
    misspelt_group["spec"]["workerGroupSpecs"][0]["maxReplica"] = 4
    assert _raycluster_errors(misspelt_group)
    misspelt_pod = copy.deepcopy(_k8s_object("RayCluster"))
    misspelt_pod["spec"]["headGroupSpec"]["template"]["spec"]["container"] = []
    assert _raycluster_errors(misspelt_pod)


def test_raycluster_gpu_group_autoscales_like_cluster_yaml():
    spec = _k8s_object("RayCluster")["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["authOptions"]["mode"] == "token"
    assert spec["rayVersion"] == "2.60.0"
    (group,) = spec["workerGroupSpecs"]
    assert 0 <= group["minReplicas"] < group["maxReplicas"]
    (container,) = group["template"]["spec"]["containers"]
    gpus_per_pod = int(container["resources"]["limits"]["nvidia.com/gpu"])
    assert gpus_per_pod >= 1

    launcher = _prepared_cluster()
    (launcher_gpu_type,) = _worker_types(launcher).values()
    assert group["maxReplicas"] == launcher_gpu_type["max_workers"]
    assert gpus_per_pod == launcher_gpu_type["resources"]["GPU"]


def test_every_container_gets_the_shared_environment():
    config_map = _k8s_object("ConfigMap")
    for name, value in REQUIRED_ENV.items():
        assert config_map["data"][name] == value
    assert config_map["data"]["LORAPARETO_STORAGE_PATH"].startswith("s3://")
    pod_specs = _pod_specs(_k8s_object("RayCluster")) + _pod_specs(_k8s_object("Deployment"))
    assert len(pod_specs) == 3
    for pod_spec in pod_specs:
        for container in pod_spec["containers"]:
            sources = [source["configMapRef"]["name"] for source in container["envFrom"]]
            assert config_map["metadata"]["name"] in sources, container["name"]


def test_mlflow_service_reaches_the_server_and_the_server_admits_its_callers(monkeypatch):
    config_map = _k8s_object("ConfigMap")
    service = _k8s_object("Service")
    deployment = _k8s_object("Deployment")
    pod = deployment["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["mlflow", "server"]

    params = _mlflow_server_params(container["args"], config_map["data"], monkeypatch)
    assert params["host"] == "0.0.0.0"
    assert params["artifacts_destination"] == config_map["data"]["MLFLOW_ARTIFACTS_DESTINATION"]
    assert params["artifacts_destination"].startswith("s3://")

    (service_port,) = service["spec"]["ports"]
    (container_port,) = container["ports"]
    assert service_port["targetPort"] == container_port["name"]
    assert container_port["containerPort"] == params["port"]
    tracking_host = config_map["data"]["MLFLOW_TRACKING_URI"].removeprefix("http://")
    assert tracking_host == f"{service['metadata']['name']}:{service_port['port']}"
    allowed_hosts = [host.strip() for host in params["allowed_hosts"].split(",")]
    for caller_host in (tracking_host, "localhost:5000"):
        assert is_allowed_host_header(allowed_hosts, caller_host), caller_host


def test_image_is_built_through_the_pinned_install_path():
    # Single-line RUN instructions only: the apt-get one continues over several lines.
    run_lines = [
        line
        for line in DOCKERFILE.read_text().splitlines()
        if line.startswith("RUN ") and not line.endswith("\\")
    ]
    instructions = [shlex.split(line) for line in run_lines]
    assert ["RUN", "scripts/install.sh", "/opt/venv"] in instructions
    images = {
        container["image"]
        for doc in _k8s_documents()
        for pod_spec in _pod_specs(doc)
        for container in pod_spec["containers"]
    }
    assert len(images) == 1, "head, workers and MLflow should run one image"
