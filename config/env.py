"""Strict helpers that read settings from the environment (and an optional `.env` file).

Every variable may be spelled with the `PARLOR_` prefix or without it; the prefixed name
wins. Secrets also accept `NAME_FILE`, a path whose contents are the value (Docker and
systemd credentials). Bad values fail loudly at start-up rather than being guessed at.
"""

from __future__ import annotations

import os
from pathlib import Path

PREFIX = "PARLOR_"


class ConfigError(Exception):
    pass


def load_dotenv(path: Path) -> None:
    """Read KEY=VALUE lines from `path` into os.environ without overriding what is set."""
    if not path.is_file():
        return
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"{path}:{lineno}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        os.environ.setdefault(key.strip(), value)


def _raw(name: str) -> str | None:
    for key in (PREFIX + name, name):
        value = os.environ.get(key)
        if value is not None:
            return value
    return None


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None else value.strip()


def env_bool(name: str, default: bool = False) -> bool:
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    if value.strip() == "True":
        return True
    if value.strip() == "False":
        return False
    raise ConfigError(f"{name} must be True or False, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {value!r}") from None


def env_float(name: str, default: float) -> float:
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {value!r}") from None


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = _raw(name)
    if value is None or value.strip() == "":
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_secret(name: str, default: str = "") -> str:
    """Return NAME, or the contents of the file named by NAME_FILE."""
    value = _raw(name)
    if value is not None and value.strip():
        return value.strip()
    path = _raw(name + "_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {path}: {exc}") from None
    return default
