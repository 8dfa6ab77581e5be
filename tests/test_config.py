"""Config profiles: lookup order, ${VAR} expansion and errors naming profile and option."""

from pathlib import Path

import pytest

from invoicing_bridge import BackendNotFound, ConfigurationError
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.config import find_config, load_profile


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_profile_expands_environment_variables(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[profiles.m]\nbackend = "memory"\nlabel = "${LABEL}-x"\n')
    profile = load_profile("m", cfg, env={"LABEL": "shop"})
    assert profile.backend == "memory"
    assert profile.options["label"] == "shop-x"
    backend = profile.open()
    assert isinstance(backend, MemoryBackend) and backend.label == "memory:shop-x"


def test_unset_variable_names_profile_and_option(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[profiles.m]\nbackend = "memory"\nlabel = "${NOPE}"\n')
    with pytest.raises(ConfigurationError) as info:
        load_profile("m", cfg, env={})
    assert info.value.profile == "m" and info.value.option == "label"
    assert "NOPE" in str(info.value) and "'m'" in str(info.value)


def test_unknown_option_names_profile_and_option(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[profiles.m]\nbackend = "memory"\ncolour = "blue"\n')
    with pytest.raises(ConfigurationError) as info:
        load_profile("m", cfg)
    assert (info.value.profile, info.value.option) == ("m", "colour")
    # A typo or another backend's option: the options this backend takes are listed
    # (marshmallow alone says "Unknown field.", which names no way out).
    assert "colour: unknown option; memory takes " in str(info.value)
    assert "label" in str(info.value) and "Unknown field" not in str(info.value)


def test_wrong_type_names_profile_and_option(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[profiles.m]\nbackend = "memory"\ncurrencies = 5\n')
    with pytest.raises(ConfigurationError) as info:
        load_profile("m", cfg)
    assert (info.value.profile, info.value.option) == ("m", "currencies")


def test_missing_backend_is_a_configuration_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[profiles.m]\nlabel = "x"\n')
    with pytest.raises(ConfigurationError) as info:
        load_profile("m", cfg)
    assert info.value.option == "backend"


def test_unknown_backend_lists_installed(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[profiles.m]\nbackend = "quickbooks"\n')
    with pytest.raises(BackendNotFound) as info:
        load_profile("m", cfg)
    assert "memory" in str(info.value)


def test_unknown_profile_lists_known_profiles(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[profiles.a]\nbackend = "memory"\n')
    with pytest.raises(ConfigurationError, match="profiles: a"):
        load_profile("b", cfg)


def test_invalid_toml_is_a_configuration_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", "[profiles.a\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_profile("a", cfg)


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        find_config(tmp_path / "missing.toml")


def test_local_file_found_before_user_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    user_dir = tmp_path / "user"
    user_dir.mkdir()
    write(user_dir / "config.toml", '[profiles.u]\nbackend = "memory"\n')
    monkeypatch.setattr("platformdirs.user_config_dir", lambda *a, **k: str(user_dir))
    assert find_config() == user_dir / "config.toml"
    write(tmp_path / "invoicing-bridge.toml", '[profiles.l]\nbackend = "memory"\n')
    assert find_config() == tmp_path / "invoicing-bridge.toml"
