"""Where settings come from besides the environment: `newsletter.toml` (or the file
`NEWSLETTER_CONFIG` names), read, flattened, and every problem reported with the file and
line, so a typo never passes silently; `.env`; and, for an error, which of them gave a value."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Collection
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from newsletter.errors import ConfigurationError

ENV_PREFIX = "NEWSLETTER_"
CONFIG_FILE = "newsletter.toml"
MAX_CONFIG_BYTES = 1024 * 1024


def config_path() -> Path:
    return Path(os.environ.get(ENV_PREFIX + "CONFIG", CONFIG_FILE))


def _where(path: Path) -> str:
    named = ENV_PREFIX + "CONFIG" in os.environ
    return f"{path} (from {ENV_PREFIX}CONFIG)" if named else str(path)


def read_toml(path: Path, known: Collection[str]) -> dict[str, Any]:
    """The file's settings, flat; refuses unknown keys, folders, devices and bad TOML."""
    if not path.exists():
        if ENV_PREFIX + "CONFIG" in os.environ:
            raise ConfigurationError(
                "the configuration file does not exist",
                where=_where(path),
                fix=f"create it, or unset {ENV_PREFIX}CONFIG to use ./{CONFIG_FILE}",
            )
        return {}
    if not path.is_file():
        raise ConfigurationError(
            "is a folder, not a configuration file" if path.is_dir() else "is not a regular file",
            where=_where(path),
            fix=f"give the path of a TOML file such as {CONFIG_FILE}",
        )
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigurationError(
                "the configuration file is larger than 1 MB",
                where=_where(path),
                fix="a settings file holds a few dozen lines: check the path",
            )
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"not valid TOML ({exc})", where=_where(path), fix="correct the syntax at that line"
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the configuration file ({exc.strerror})",
            where=_where(path),
            fix="check the path and that this user may read it",
        ) from None
    values: dict[str, Any] = {}
    for key, value in _flatten(data):
        if key not in known:
            raise ConfigurationError(
                f"unknown setting `{key}`",
                where=toml_where(path, key),
                fix="remove it or correct the name; known settings: " + ", ".join(known),
            )
        values[key] = value
    return values


def _flatten(data: dict[str, Any]) -> list[tuple[str, Any]]:
    """Tables only group keys for readability: `[clinic] name` is not special, keys are flat."""
    items: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            items.extend(_flatten(value))
        else:
            items.append((key, value))
    return items


def toml_where(path: Path, key: str) -> str:
    try:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.match(rf"^\s*{re.escape(key)}\s*=", line):
                return f"{path}, line {number}, key `{key}`"
    except (OSError, UnicodeDecodeError):
        pass
    return f"{path}, key `{key}`"


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


class TomlSource(PydanticBaseSettingsSource):
    """Reads newsletter.toml, refusing unknown keys so that typos do not pass silently."""

    def __init__(self, settings_cls: type[BaseSettings]):
        super().__init__(settings_cls)
        self.values = read_toml(config_path(), tuple(settings_cls.model_fields))

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


def source_of(field: str, known: Collection[str]) -> str:
    """Where `field`'s value came from, for an error message."""
    name = env_name(field)
    if name in os.environ:
        return f"environment variable {name}"
    dotenv = Path(".env")
    if dotenv.is_file() and re.search(
        rf"^\s*(export\s+)?{name}\s*=", dotenv.read_text(errors="replace"), re.M | re.I
    ):
        return f".env, variable {name}"
    path = config_path()
    if field in read_toml(path, known):
        return toml_where(path, field)
    return f"default value of {name}"


def check_dotenv() -> None:
    """`.env` must be a readable file when present (pydantic would raise a traceback)."""
    dotenv = Path(".env")
    if not dotenv.exists():
        return
    problem = None
    if not dotenv.is_file():
        problem = "is a folder, not a file" if dotenv.is_dir() else "is not a regular file"
    elif not os.access(dotenv, os.R_OK):
        problem = "cannot be read (permission denied)"
    if problem:
        raise ConfigurationError(
            problem,
            where=str(dotenv.resolve()),
            fix="remove it or make it a readable file of NEWSLETTER_* = value lines",
        )
