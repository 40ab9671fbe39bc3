"""Every setting of the course server, in one typed object.

Values come, highest precedence first, from keyword arguments, environment
variables ``LABPLATFORM_<NAME>``, and a TOML file named by
``LABPLATFORM_CONFIG`` (or ``--config``). A bad value stops start-up with a
message naming the setting, rather than surfacing later as a strange fault.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from labkit.logs import LogFormat

Backend = Literal["embedded", "kind", "kubernetes"]

REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "labplatform"


class SettingsError(ValueError):
    """Raised with one readable line per bad setting."""


class Settings(BaseSettings):
    """Course-server settings; see the module docstring for where they come from."""

    model_config = SettingsConfigDict(env_prefix="LABPLATFORM_", extra="forbid")

    host: str = Field("127.0.0.1", description="address the course server listens on")
    port: int = Field(8000, ge=0, le=65535, description="port the course server listens on")
    data_dir: Path = Field(
        default_factory=_default_data_dir, description="clusters, database and uploads live here"
    )
    database_url: str = Field(
        "", description="SQLAlchemy-style URL; empty means a SQLite file in data_dir"
    )
    courses_dir: Path = Field(REPO_ROOT / "courses", description="folder of courses to serve")
    backend: Backend = Field("embedded", description="where learners' clusters run")
    kubeconfig: Path | None = Field(
        None,
        description="kubernetes backend: the cluster's kubeconfig; unset, the server's own "
        "ServiceAccount (running in that cluster)",
    )
    pool_size: int = Field(1, ge=0, le=100, description="pre-warmed clusters kept ready")
    max_sessions: int = Field(8, ge=1, le=1000, description="live lab sessions at most")
    idle_minutes: float = Field(30, gt=0, description="a session ends after this long idle")
    warn_minutes: float = Field(5, ge=0, description="the page warns this long before the end")
    max_minutes: float = Field(240, gt=0, description="a session ends after this long, always")
    cluster_memory_mb: int = Field(2048, ge=256, description="memory limit of each cluster")
    cluster_cpus: float = Field(1.0, gt=0, description="CPU limit of each cluster, in cores")
    event_code: str = Field("", description="learners must give this code to join; empty: none")
    allow_anonymous: bool = Field(True, description="learners may start labs without joining")
    admin_token: str = Field(
        "", description="instructors sign in with it; empty: one is made in data_dir/admin-token"
    )
    secure_cookies: bool = Field(False, description="send cookies over HTTPS only")
    dev: bool = Field(False, description="authoring: pages reload themselves when a course changes")
    log_format: LogFormat = Field("kv", description="json for machines, kv for people")
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'labplatform.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        config = os.environ.get("LABPLATFORM_CONFIG")
        if config:
            sources += (TomlConfigSettingsSource(settings_cls, toml_file=Path(config)),)
        return sources


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings, turning pydantic's report into a :class:`SettingsError`.

    ``config_file`` wins over ``LABPLATFORM_CONFIG``; overrides that are
    ``None`` (an option not given on the command line) are ignored.
    """
    if config_file is not None:
        if not config_file.is_file():
            raise SettingsError(f"config file {config_file}: no such file")
        os.environ["LABPLATFORM_CONFIG"] = str(config_file)
    elif (env_config := os.environ.get("LABPLATFORM_CONFIG")) and not Path(env_config).is_file():
        raise SettingsError(f"LABPLATFORM_CONFIG={env_config}: no such file")
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "settings"
            lines.append(f"setting {name} (LABPLATFORM_{name.upper()}): {err['msg']}")
        raise SettingsError("\n".join(lines)) from None
    except Exception as exc:  # a TOML syntax error surfaces as a plain exception
        raise SettingsError(f"config file {os.environ.get('LABPLATFORM_CONFIG')}: {exc}") from None
