from pathlib import Path

import pytest

from labplatform.settings import SettingsError, load_settings


def test_defaults_put_the_database_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.backend == "embedded"
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'data' / 'labplatform.db'}"


def test_environment_overrides_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "labplatform.toml"
    config.write_text('port = 9100\nbackend = "kind"\nlog_format = "json"\n')
    monkeypatch.setenv("LABPLATFORM_CONFIG", str(config))
    monkeypatch.setenv("LABPLATFORM_PORT", "9200")
    settings = load_settings()
    assert settings.port == 9200  # the environment wins
    assert settings.backend == "kind"  # the file fills in the rest
    assert settings.log_format == "json"


def test_command_line_overrides_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABPLATFORM_PORT", "9200")
    assert load_settings(port=9300).port == 9300
    assert load_settings(port=None).port == 9200  # an option not given changes nothing


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("LABPLATFORM_PORT", "eighty", "setting port (LABPLATFORM_PORT)"),
        ("LABPLATFORM_PORT", "70000", "less than or equal to 65535"),
        ("LABPLATFORM_BACKEND", "docker", "'embedded', 'kind' or 'kubernetes'"),
        ("LABPLATFORM_LOG_FORMAT", "xml", "setting log_format"),
    ],
)
def test_bad_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_settings()


def test_unknown_key_in_config_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "labplatform.toml"
    config.write_text("prot = 9100\n")
    with pytest.raises(SettingsError, match="setting prot"):
        load_settings(config)


def test_broken_or_missing_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "labplatform.toml"
    config.write_text("port = = 1\n")
    with pytest.raises(SettingsError, match=str(config)):
        load_settings(config)
    with pytest.raises(SettingsError, match="no such file"):
        load_settings(tmp_path / "absent.toml")
