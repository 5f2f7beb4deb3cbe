"""`newsletter.toml` (or the file `NEWSLETTER_CONFIG` names): read, flattened, and every
problem reported with the file and line, so a typo never passes silently."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Collection
from pathlib import Path
from typing import Any

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
