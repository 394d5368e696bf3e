"""Run configuration: a TOML file with ``[data]``, ``[features]``, ``[model]``, ``[train]`` and
``[augment]`` tables, plus ``section.key=value`` overrides from the command line.

The whole resolved configuration is stored in every checkpoint, so ``eval`` and ``predict``
rebuild the model and recompute input features exactly as training did.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any, Iterable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["DEFAULTS", "TABLE_KEYS", "load_config", "apply_overrides", "check_keys", "ConfigError"]

DEFAULTS: dict[str, dict[str, Any]] = {
    "data": {"format": "generic", "root": "", "val_fraction": 0.1, "split_seed": 0, "cache": "", "repair": None},
    "features": {"names": ["hks", "curvature", "hks_grad"], "connection": "levi-civita"},
    "model": {},
    "train": {},
    "augment": {"gauge": True, "rotate": True, "scale": 0.0},
    "output": {"dir": "runs/default"},
}


#: The keys of the tables whose readers are plain lookups; ``[model]`` and ``[train]`` are
#: checked against the classes they build (:func:`~gaugemesh.training.recipe.model_options`,
#: :meth:`~gaugemesh.training.loop.TrainSettings.from_table`).
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "data": ("format", "root", "val_fraction", "split_seed", "cache", "repair", "workers", "val_group_pattern",
             "strict"),
    "features": ("names", "connection", "hks_count", "grad_count", "eigs"),
    "augment": ("gauge", "rotate", "scale"),
    "output": ("dir",),
}


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key."""


def check_keys(section: str, table: dict[str, Any], valid: Iterable[str]) -> None:
    """Refuse a key of ``[section]`` that is not in ``valid``, naming it and the valid ones.

    Raises:
        ConfigError: ``table`` is not a table, or has a key outside ``valid``.
    """
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}] must be a table of key = value pairs, got {table!r}")
    valid = sorted(valid)
    unknown = sorted(set(table) - set(valid))
    if unknown:
        raise ConfigError(f"unknown key {section}.{unknown[0]}; valid keys of [{section}]: {', '.join(valid)}")


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
            config[section].update(values)
    config = apply_overrides(config, list(overrides))
    for section, keys in TABLE_KEYS.items():  # a typo would otherwise be ignored in silence
        check_keys(section, config[section], keys)
    return config
