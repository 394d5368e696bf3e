"""Run configuration: a TOML file with ``[data]``, ``[features]``, ``[model]``, ``[train]`` and
``[augment]`` tables, plus ``section.key=value`` overrides from the command line.

The whole resolved configuration is stored in every checkpoint, so ``eval`` and ``predict``
rebuild the model and recompute input features exactly as training did.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from gaugemesh.training.options import SECTIONS, ConfigError, check_keys, section_defaults, table_from, toml_value

__all__ = ["DEFAULTS", "load_config", "apply_overrides", "check_keys", "resolve_tables", "to_toml", "ConfigError"]

#: Every table with its defaults (from :mod:`gaugemesh.training.options`); ``[model]`` and
#: ``[train]`` start empty: their defaults are those of the classes they build.
DEFAULTS: dict[str, dict[str, Any]] = {
    **{section: section_defaults(cls) for section, cls in SECTIONS.items()},
    "model": {},
    "train": {},
}


def resolve_tables(config: dict[str, Any]) -> dict[str, Any]:
    """Check every schema table of ``config`` (keys and types) and fill in its defaults.

    Raises:
        ConfigError: an unknown key or a wrong type, in one line naming it.
    """
    return {**config, **{section: table_from(section, config.get(section, {})) for section in SECTIONS}}


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word: take it as a string


def apply_overrides(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values in TOML syntax; bare words are strings)."""
    config = copy.deepcopy(config)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise ConfigError(f"override {item!r} must look like section.key=value, e.g. train.epochs=5")
        section, name = key.strip().split(".", 1)
        if section not in DEFAULTS:
            raise ConfigError(f"unknown config section {section!r} in {item!r}; sections: {sorted(DEFAULTS)}")
        config.setdefault(section, {})[name.strip()] = _parse_value(value.strip())
    return config


def load_config(path: str | Path | None, overrides: list[str] = ()) -> dict[str, Any]:
    """Read a TOML config, fill in defaults, apply overrides."""
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"no config file at {path}")
        try:
            loaded = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
        unknown = set(loaded) - set(DEFAULTS)
        if unknown:
            raise ConfigError(f"{path}: unknown sections {sorted(unknown)}; allowed: {sorted(DEFAULTS)}")
        for section, values in loaded.items():
            if not isinstance(values, dict):
                raise ConfigError(f"{path}: [{section}] must be a table of key = value pairs, got {values!r}")
            config[section].update(values)
    return resolve_tables(apply_overrides(config, list(overrides)))


def to_toml(config: dict[str, Any]) -> str:
    """The configuration as TOML that :func:`load_config` reads back to the same tables.

    A key whose value is ``None`` (TOML has no null) is written as a comment: left out, it
    takes the same default when read back.
    """
    lines = []
    for section, table in config.items():
        lines.append(f"[{section}]")
        for key, value in table.items():
            lines.append(f"# {key}: default" if value is None else f"{key} = {toml_value(value)}")
        lines.append("")
    return "\n".join(lines)
