"""The sweep spec: which towns to run (seeds × agent counts × named config variants)
and for how long. Loading checks everything before any town starts, and every error
names the key it is about (``seeds[2]``, ``variants.dear_food.world.economy.x``)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, Any

import msgspec
import yaml
from msgspec import Meta, Struct

from townlet.config import ConfigError, TownletConfig, load_config, with_agents, with_settings

__all__ = ["MAX_TOWNS", "SpecError", "SweepSpec", "TownJob", "load_spec"]

MAX_TOWNS = 10_000
"""Most towns one spec may expand to (a typo in a list should not queue a million)."""
MAX_SPEC_BYTES = 1 << 20


class SpecError(ValueError):
    """A sweep spec that cannot be run; the message names the offending key."""


class SweepSpec(Struct, forbid_unknown_fields=True, frozen=True):
    """What ``townlet sweep SPEC.yaml`` runs: the product of ``seeds``, ``agents`` and
    ``variants``, each town for ``ticks`` ticks."""

    seeds: Annotated[list[Annotated[int, Meta(ge=0)]], Meta(min_length=1)]
    ticks: Annotated[int, Meta(ge=1)]
    config: str | None = None
    """Base YAML config, relative to the spec's folder (default: the embedded town)."""
    agents: list[Annotated[int, Meta(ge=1)]] = []
    """Town sizes; empty keeps the base config's size."""
    variants: dict[Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")],
                   dict[str, Any]] = {}
    """Named config overrides, each a map of dotted keys (``world.economy.rent``);
    empty runs the base config alone, named ``base``."""
    publish: bool = False
    """Each town also runs its publisher (endpoints listed in the results)."""
    publish_port: Annotated[int, Meta(ge=1024, le=65000)] = 7800
    """First publisher port; town ``i`` of the sweep publishes on ``publish_port + i``."""


class TownJob(Struct, frozen=True):
    """One town of a sweep, self-contained so that any worker can run it."""

    key: str
    """Stable name (``variant/a<agents>/s<seed>``): the resume journal's key."""
    index: int
    variant: str
    seed: int
    ticks: int
    config: TownletConfig


def _check_keys(base: dict[str, Any], overrides: dict[str, Any], where: str) -> None:
    """Every dotted key must name an existing setting (the loader checks the values)."""
    for key in overrides:
        node: Any = base
        for depth, part in enumerate(key.split(".")):
            if not isinstance(node, dict) or part not in node:
                known = ", ".join(sorted(node)) if isinstance(node, dict) else "none"
                bad = ".".join(key.split(".")[:depth + 1])
                raise SpecError(f"{where}.{key}: no setting {bad!r} (known here: {known})")
            node = node[part]


def _parse(data: bytes, origin: str) -> SweepSpec:
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"{origin}: not a YAML document ({exc})") from None
    try:
        return msgspec.convert(raw, SweepSpec)
    except msgspec.ValidationError as exc:
        # msgspec names the key as ``at `$.seeds[2]```: keep that, drop the ``$.``
        raise SpecError(f"{origin}: {str(exc).replace('$.', '')}") from None


def load_spec(path: str | Path) -> tuple[SweepSpec, list[TownJob]]:
    """The spec at ``path`` and the towns it expands to, in a fixed order."""
    path = Path(path)
    try:
        data = path.read_bytes()[:MAX_SPEC_BYTES + 1]
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the sweep spec ({exc.strerror})") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"{path}: too large for a sweep spec (limit {MAX_SPEC_BYTES:,} bytes)")
    spec = _parse(data, str(path))
    return spec, expand(spec, path.parent)


def _served(cfg: TownletConfig, spec: SweepSpec, index: int) -> TownletConfig:
    """``cfg`` with telemetry as the spec says: off, or on its own port with the key
    directory made absolute (workers may start in another working directory)."""
    if not spec.publish:
        return with_settings(cfg, {"telemetry.enabled": False}, "publish")
    host = cfg.telemetry.endpoint.rsplit(":", 1)[0]
    return with_settings(cfg, {"telemetry.enabled": True,
                               "telemetry.endpoint": f"{host}:{spec.publish_port + index}",
                               "keys.dir": str(Path(cfg.keys.dir).resolve())}, "publish")


def expand(spec: SweepSpec, folder: Path) -> list[TownJob]:
    """Build and check every town's config (before any runs)."""
    try:
        base = load_config(folder / spec.config if spec.config else None)
    except ConfigError as exc:
        raise SpecError(f"config: {exc}") from None
    count = len(spec.seeds) * max(1, len(spec.agents)) * max(1, len(spec.variants))
    if count > MAX_TOWNS:
        raise SpecError(f"seeds × agents × variants: {count:,} towns (the limit is "
                        f"{MAX_TOWNS:,})")
    tree = msgspec.to_builtins(base)
    variants = spec.variants or {"base": {}}
    sizes: list[int | None] = list(spec.agents) or [None]  # None: the config's own size
    configs: list[tuple[str, TownletConfig]] = []
    for name, overrides in variants.items():
        _check_keys(tree, overrides, f"variants.{name}")
        for agents in sizes:
            try:
                cfg = with_settings(base, overrides, f"variants.{name}")
                configs.append((name, cfg if agents is None else with_agents(cfg, agents)))
            except ConfigError as exc:
                raise SpecError(str(exc)) from None
    jobs = []
    for index, ((name, variant_cfg), seed) in enumerate(
            itertools.product(configs, spec.seeds)):
        cfg = _served(variant_cfg, spec, index)
        size = cfg.world.town.agents
        jobs.append(TownJob(key=f"{name}/a{size}/s{seed}", index=index, variant=name,
                            seed=seed, ticks=spec.ticks, config=cfg))
    keys = [job.key for job in jobs]
    if len(set(keys)) != len(keys):
        raise SpecError("seeds/agents: the spec names the same town twice "
                        f"({min(k for k in keys if keys.count(k) > 1)})")
    return jobs
