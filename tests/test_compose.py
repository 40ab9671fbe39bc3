"""docker-compose.yml: valid for Compose, and every setting it passes is one the server knows."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from labplatform.settings import Settings
from tests.helpers import REPO

COMPOSE = shutil.which("docker-compose")


def config(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    if COMPOSE is None:
        pytest.fail("docker-compose is missing: `make setup` installs Debian's docker-compose")
    return subprocess.run([COMPOSE, *args, "config"], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip


def test_compose_validates_the_file_and_its_postgres_profile() -> None:
    plain = config()
    assert plain.returncode == 0, plain.stderr
    services = yaml.safe_load(plain.stdout)["services"]
    assert services["postgres"]["profiles"] == ["postgres"]  # only when asked for
    server = services["course-server"]
    assert "profiles" not in server
    assert server["privileged"] is True  # namespaces, iptables, mounts: stated in the file
    assert server["ports"][0]["target"] == 8000
    assert "labplatform-data:/var/lib/labplatform:rw" in server["volumes"]  # data survives
    assert config("--profile", "postgres").returncode == 0


def test_every_setting_the_file_passes_exists() -> None:
    environment = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"][
        "course-server"
    ]["environment"]
    names = {key.removeprefix("LABPLATFORM_").lower() for key in environment}
    assert names and names <= set(Settings.model_fields), names - set(Settings.model_fields)


def test_a_broken_file_is_refused(tmp_path: Path) -> None:
    text = (REPO / "docker-compose.yml").read_text().replace("privileged: true", "privileged: 12")
    (tmp_path / "docker-compose.yml").write_text(text)
    broken = config(cwd=tmp_path)
    assert broken.returncode != 0
    assert "privileged" in broken.stderr


def test_the_course_server_image_copies_only_what_exists() -> None:
    dockerfile = (REPO / "images/course-server.Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.M):
        assert (REPO / source).exists(), source
