"""Load YAML into :class:`TownletConfig` with errors that name the key path,
and derive the stable ``config_id``."""

from __future__ import annotations

import hashlib
import re
import reprlib
from pathlib import Path
from typing import Any

import msgspec
import yaml

from townlet.config.invariants import check_invariants
from townlet.config.root import TownletConfig

__all__ = ["ConfigError", "canonical_json", "config_id", "default_config", "dump_config", "load_config",
           "with_agents", "with_settings"]

_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
MAX_CONFIG_BYTES = 256 * 1024
"""Largest config file read (the default town's is ~6 KB); larger files are refused
before YAML parsing, which would take seconds per megabyte."""
_SHOW = reprlib.Repr()
"""Echoes bad values briefly (YAML aliases can make a small file a huge value)."""
_SHOW.maxlevel, _SHOW.maxlist, _SHOW.maxdict, _SHOW.maxstring = 2, 4, 4, 60


class ConfigError(ValueError):
    """A config that cannot be used; the message names the key path and the problem."""


def _lookup(raw: Any, path: str) -> tuple[bool, Any]:
    """Follow a msgspec error path like ``.world.jobs[1].wage`` into the raw data."""
    node = raw
    for key, index in _STEP.findall(path):
        try:
            node = node[key] if key else node[int(index)]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, node


def _known_fields(path: str) -> tuple[str, ...]:
    """Field names of the config section at a msgspec error path (empty if none)."""
    node: Any = msgspec.inspect.type_info(TownletConfig)
    for key, index in _STEP.findall(path):
        if index and isinstance(node, msgspec.inspect.ListType):
            node = node.item_type
        elif key and isinstance(node, msgspec.inspect.DictType):
            node = node.value_type
        elif key and isinstance(node, msgspec.inspect.StructType):
            node = next((f.type for f in node.fields if f.encode_name == key), None)
        else:
            return ()
    return tuple(f.encode_name for f in node.fields) \
        if isinstance(node, msgspec.inspect.StructType) else ()


def _explain(error: msgspec.ValidationError, raw: Any) -> str:
    text = str(error)
    match = _PATH.search(text)
    path = match.group("path") if match else ""
    reason = text[: match.start()] if match else text
    reason = reason[0].lower() + reason[1:] if reason else reason
    reason = reason.replace("`", "")
    found, value = _lookup(raw, path)
    if found and "got" not in reason and "unknown field" not in reason:
        reason += f", got {_SHOW.repr(value)}"
    known = _known_fields(path) if "unknown field" in reason else ()
    if known:
        reason += f" (known: {', '.join(known)})"
    return f"{path.lstrip('.') or '<root>'}: {reason}"


def _from_mapping(raw: Any, origin: str) -> TownletConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        cfg = msgspec.convert(raw, TownletConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{origin}: {_explain(exc, raw)}") from None
    check_invariants(cfg, origin)
    return cfg


def load_config(path: str | Path | None = None) -> TownletConfig:
    """Load a YAML config file (``None`` gives the embedded default town)."""
    if path is None:
        return default_config()
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: too large for a config file (the limit is "
                          f"{MAX_CONFIG_BYTES:,} bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return _from_mapping(raw, str(path))


def default_config() -> TownletConfig:
    """The embedded default town (identical to ``configs/default.yaml``)."""
    return _from_mapping({}, "<default>")


def with_agents(cfg: TownletConfig, agents: int) -> TownletConfig:
    """The same config scaled to ``agents`` agents (the town grows with it)."""
    return with_settings(cfg, {"world.town.agents": agents}, "--agents")


def with_settings(cfg: TownletConfig, settings: dict[str, Any], origin: str) -> TownletConfig:
    """The same config with dotted keys replaced (``{"console.endpoint": ...}``), checked
    like a file; ``origin`` (e.g. the command-line flag) prefixes any error."""
    raw = msgspec.to_builtins(cfg)
    for key, value in settings.items():
        *parents, leaf = key.split(".")
        node = raw
        for part in parents:
            node = node[part]
        node[leaf] = value
    return _from_mapping(raw, origin)


def dump_config(cfg: TownletConfig) -> str:
    """Canonical YAML of a config (every field spelled out)."""
    return yaml.safe_dump(msgspec.to_builtins(cfg), sort_keys=False)


def canonical_json(cfg: TownletConfig) -> bytes:
    """Sorted-key JSON of what identifies a run: the ``world`` section (everything
    that decides what happens in the town, nothing about how it is served or
    observed, so ports, audit paths or observation settings never change it)."""
    return msgspec.json.encode(msgspec.to_builtins(cfg.world), order="sorted")


def config_id(cfg: TownletConfig) -> str:
    """Stable short hash of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(cfg)).hexdigest()[:16]
