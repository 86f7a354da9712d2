"""The deployment files parse, and every command, module and file they name exists."""

from __future__ import annotations

import importlib.util
import itertools
import re
import shutil
import sys
from pathlib import Path

import yaml

from elt_dagster.orchestration.queueing import TARGET_TAG

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
OUR_COMMANDS = {"dagster", "dagster-webserver", "dagster-daemon", "elt-dagster"}


def commands_in(compose: dict) -> list[list[str]]:
    return [service["command"] for service in compose["services"].values() if "command" in service]


def check_command(command: list[str]) -> None:
    if command[0] in OUR_COMMANDS:
        assert (BIN / command[0]).exists() or shutil.which(command[0]), command[0]
    for flag, value in itertools.pairwise(command):
        if flag == "-m":
            assert importlib.util.find_spec(value), f"module {value} does not exist"


def test_docker_compose_services_and_commands_exist() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert {"postgres", "code", "webserver", "daemon"} <= set(compose["services"])
    for command in commands_in(compose):
        check_command(command)
    for volume in compose["services"]["postgres"]["volumes"]:
        source = volume.split(":")[0]
        assert not source.startswith("./") or (DEPLOY / source).exists(), source
    assert "password" not in (DEPLOY / "docker-compose.yml").read_text().lower().replace("postgres_password", "")


def test_dockerfile_copies_files_that_exist_and_runs_our_code_server() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
    command = yaml.safe_load(re.search(r"^CMD (.*)$", text, re.MULTILINE).group(1))
    check_command(command)


def test_instance_settings_of_every_deployment_queue_per_target_table() -> None:
    docker = yaml.safe_load((DEPLOY / "dagster.docker.yaml").read_text())
    assert docker["run_launcher"]["class"] == "DockerRunLauncher"
    assert docker["concurrency"]["runs"]["tag_concurrency_limits"][0]["key"] == TARGET_TAG
    helm = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    assert helm["runLauncher"]["type"] == "K8sRunLauncher"
    limits = helm["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]
    assert limits[0]["key"] == TARGET_TAG and limits[0]["value"] == {"applyLimitPerUniqueValue": True}
    deployment = helm["dagster-user-deployments"]["deployments"][0]
    check_command(["dagster", *deployment["dagsterApiGrpcArgs"]])
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["grpc_server"]["port"] == 4000
