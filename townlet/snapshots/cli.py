"""``townlet snapshot``: save, load, inspect, list, migrate, verify and clean snapshot files.

Every file argument is a name inside the snapshot root (``--root``, else the config's
``snapshots.root``); names that leave it are refused. Errors print one line and exit 2;
``verify`` exits 1 when a file fails its checks. ``--json`` prints one JSON document.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from townlet.config.options import agents_option, config_option, seed_option

if TYPE_CHECKING:
    from townlet.config import TownletConfig
    from townlet.snapshots.format import SnapshotHeader

__all__ = ["snapshot_command"]


class CliError(click.ClickException):
    """A refused request: one line on stderr, exit code 2."""

    exit_code = 2


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn expected failures into one-line exit-2 errors."""
    from townlet.config import ConfigError
    from townlet.security.sandbox import ForbiddenPath
    from townlet.snapshots.errors import SnapshotError

    try:
        yield
    except ForbiddenPath as exc:
        raise CliError(f"{exc.code}: {exc}") from None
    except (SnapshotError, ConfigError) as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"{exc.filename or ''}: {exc.strerror}") from None
    except Exception as exc:
        # A WorldError can only come from a loaded kernel; importing it here just to catch
        # it would load the kernel for every command.
        world_errors = sys.modules.get("townlet.world.errors")
        if world_errors is not None and isinstance(exc, world_errors.WorldError):
            raise CliError(str(exc)) from None
        raise


def _load_cfg(config_path: str | None, agents: int | None = None,
              root: str | None = None) -> TownletConfig:
    """The config, scaled to ``agents`` and with snapshot root ``root`` when given."""
    from townlet.config import load_config, with_agents

    cfg = load_config(config_path)
    cfg = cfg if agents is None else with_agents(cfg, agents)
    if root is None:
        return cfg
    import msgspec

    return msgspec.structs.replace(cfg, snapshots=msgspec.structs.replace(cfg.snapshots,
                                                                          root=root))


def _root(config_path: str | None, root: str | None) -> str:
    return root if root is not None else _load_cfg(config_path).snapshots.root


def _emit(as_json: bool, doc: Any, human: str | None = None) -> None:
    if as_json:
        import msgspec

        click.echo(msgspec.json.encode(doc).decode())
    elif human is not None:
        click.echo(human)


def _run(world: Any, ticks: int, quiet: bool) -> None:
    """Step ``world`` ``ticks`` times, with a progress bar unless ``quiet``."""
    if quiet or ticks <= 0:
        for _ in range(ticks):
            world.step()
        return
    from rich.progress import MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task("ticks", total=ticks)
        for _ in range(ticks):
            world.step()
            bar.advance(task)


def _summary(world: Any, path: Path | None = None) -> dict[str, Any]:
    out = {"tick": world.tick, "state_hash": world.state_hash(), "config_id": world.config_id,
           "seed": world.seed, "alive": int(world.alive.sum())}
    if path is not None:
        out["path"] = os.fspath(path)
    return out


_ROOT = click.option("--root", help="Snapshot root (default: the config's snapshots.root).")
_MISMATCH = click.option("--allow-config-mismatch", is_flag=True,
                         help="Load a snapshot written under another config (logged).")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


@click.group("snapshot")
def snapshot_command() -> None:
    """Save, load, inspect, list, migrate, verify and clean world snapshots."""


@snapshot_command.command("save")
@click.argument("name")
@config_option
@_ROOT
@agents_option
@seed_option("Used for a fresh world, not with --from.")
@click.option("--ticks", type=click.IntRange(min=0), default=0, show_default=True,
              help="Ticks to run before saving.")
@click.option("--from", "source", help="Start from this snapshot instead of a fresh world.")
@_MISMATCH
@click.option("--overwrite", is_flag=True, help="Replace an existing file of that name.")
@_JSON
def save_cmd(name: str, config_path: str | None, root: str | None, agents: int | None,
             seed: int, ticks: int, source: str | None, allow_config_mismatch: bool,
             overwrite: bool, as_json: bool) -> None:
    """Run a world (fresh, or resumed with --from) for --ticks ticks and save it as NAME."""
    with _errors():
        from townlet.security.sandbox import Sandbox
        from townlet.snapshots.errors import SnapshotError
        from townlet.snapshots.world_io import resume_world, save_world

        cfg = _load_cfg(config_path, agents, root)
        target = Sandbox(cfg.snapshots.root).resolve_file(name)
        if target.exists() and not overwrite:  # fail before running, not after
            raise SnapshotError(f"{target}: already exists (choose another name or --overwrite)")
        from townlet.world import World

        world = (resume_world(source, cfg, allow_config_mismatch) if source
                 else World(cfg, seed=seed))
        _run(world, ticks, as_json)
        path, _ = save_world(world, name, overwrite=overwrite)
        info = _summary(world, path)
    _emit(as_json, info, f"saved tick {info['tick']} to {path} (state {info['state_hash'][:16]})")


@snapshot_command.command("load")
@click.argument("name")
@config_option
@_ROOT
@agents_option
@_MISMATCH
@click.option("--ticks", type=click.IntRange(min=0), default=0, show_default=True,
              help="Ticks to run after loading.")
@_JSON
def load_cmd(name: str, config_path: str | None, root: str | None, agents: int | None,
             allow_config_mismatch: bool, ticks: int, as_json: bool) -> None:
    """Load NAME into a fresh world (all checks), optionally run on, print its state hash."""
    with _errors():
        from townlet.snapshots.world_io import resume_world

        world = resume_world(name, _load_cfg(config_path, agents, root), allow_config_mismatch)
        _run(world, ticks, as_json)
        info = _summary(world)
    _emit(as_json, info, f"loaded {name}: tick {info['tick']}, {info['alive']} alive, "
                         f"state {info['state_hash']}")


def _header_doc(header: SnapshotHeader, path: Path) -> dict[str, Any]:
    import msgspec

    from townlet.snapshots.configdiff import SCOPE

    doc = msgspec.to_builtins(header)
    # shown as in a config file: the stored JSON is the section config_id covers
    doc["config"] = {SCOPE: msgspec.json.decode(header.config)} if header.config else None
    doc["path"] = os.fspath(path)
    doc["file_size"] = path.stat().st_size
    return doc


def _print_header(header: SnapshotHeader, path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    h, ident = header, header.identity
    meta = Table(show_header=False, box=None)
    for key, value in [
        ("file", f"{path} ({path.stat().st_size:,} bytes)"),
        ("format / schema", f"{h.format_version} / {h.schema_version}"),
        ("config_id", h.config_id), ("tick", str(h.tick)), ("seed", str(h.seed)),
        ("created", h.created_at), ("origin", h.origin), ("townlet", h.townlet_version),
        ("policy", (f"name={ident.policy_name} hash={ident.policy_hash} "
                    f"variant={ident.observation_variant} anneal={ident.anneal_ratio} "
                    f"({ident.anneal_unit}, {ident.learned_agents} learned agents)")),
        ("migrations", "; ".join(h.migrations) or "none"),
    ]:
        meta.add_row(key, value)
    table = Table("section", "dtype", "shape", "offset", "bytes", "xxh3-128")
    for e in h.sections:
        table.add_row(e.name, e.dtype, "x".join(map(str, e.shape)) or "()", f"{e.offset:,}",
                      f"{e.nbytes:,}", e.checksum)
    console = Console()
    console.print(meta)
    console.print(table)


@snapshot_command.command("inspect")
@click.argument("name")
@config_option
@_ROOT
@_JSON
def inspect_cmd(name: str, config_path: str | None, root: str | None, as_json: bool) -> None:
    """Print the header and section table of NAME (sections are not hashed: see verify)."""
    with _errors():
        from townlet.security.sandbox import Sandbox
        from townlet.snapshots.reader import read_header

        path = Sandbox(_root(config_path, root)).resolve(name)
        header = read_header(path)
        doc = _header_doc(header, path)
    if as_json:
        _emit(True, doc)
    else:
        _print_header(header, path)


@snapshot_command.command("list")
@config_option
@_ROOT
@_JSON
def list_cmd(config_path: str | None, root: str | None, as_json: bool) -> None:
    """List the snapshots in the root, oldest first (invalid ones with their error), and
    the temporary files of writers (stale ones: see ``clean``)."""
    with _errors():
        from townlet.security.sandbox import Sandbox
        from townlet.snapshots.catalog import list_snapshots
        from townlet.snapshots.temps import list_temps

        base = Sandbox(_root(config_path, root)).root
        rows, temps = list_snapshots(base), list_temps(base)
    if as_json:
        _emit(True, {"root": os.fspath(base), "snapshots": rows, "temps": temps})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "tick", "schema", "origin", "created", "size", "config_id",
                  title=os.fspath(base))
    for r in rows:
        if r.error is not None:
            table.add_row(r.name, "-", "-", "[red]invalid[/]", r.error, f"{r.size:,}", "")
        else:
            table.add_row(r.name, str(r.tick), str(r.schema), r.origin, r.created_at,
                          f"{r.size:,}", r.config_id)
    Console().print(table)
    if temps:
        tmp = Table("temporary file", "writer pid", "state", "age (s)", "size",
                    title="temporary files (remove stale ones with `townlet snapshot clean`)")
        for t in temps:
            tmp.add_row(t.name, str(t.pid), "[red]stale[/]" if t.stale else "being written",
                        f"{t.age:,.0f}", f"{t.size:,}")
        Console().print(tmp)


@snapshot_command.command("clean")
@config_option
@_ROOT
@_JSON
def clean_cmd(config_path: str | None, root: str | None, as_json: bool) -> None:
    """Remove temporary files of saves that died mid-write (a file a live writer holds
    is never touched)."""
    with _errors():
        from townlet.security.sandbox import Sandbox
        from townlet.snapshots.temps import clean_temps

        base = Sandbox(_root(config_path, root)).root
        removed = clean_temps(base)
    _emit(as_json, {"root": os.fspath(base), "removed": removed},
          "\n".join(f"removed {t.name} ({t.size:,} bytes, writer pid {t.pid})" for t in removed)
          or "no stale temporary files")


@snapshot_command.command("verify")
@click.argument("names", nargs=-1, required=True)
@config_option
@_ROOT
@_JSON
def verify_cmd(names: tuple[str, ...], config_path: str | None, root: str | None,
               as_json: bool) -> None:
    """Fully check each NAME (header, table, every section's checksum). Exit 1 on failure."""
    with _errors():
        from townlet.snapshots.catalog import verify_file

        base = _root(config_path, root)
        results = [verify_file(base, name) for name in names]
    if as_json:
        _emit(True, {"results": results})
    else:
        for r in results:
            click.echo(f"{r.name}: " + (f"ok (tick {r.tick}, {r.sections} sections)" if r.ok
                                        else f"FAILED: {r.error}"))
    if not all(r.ok for r in results):
        raise SystemExit(1)


@snapshot_command.command("migrate")
@click.argument("source")
@click.argument("target")
@config_option
@_ROOT
@click.option("--overwrite", is_flag=True, help="Replace TARGET if it exists.")
@_JSON
def migrate_cmd(source: str, target: str, config_path: str | None, root: str | None,
                overwrite: bool, as_json: bool) -> None:
    """Rewrite SOURCE at the current schema version as TARGET (SOURCE is kept)."""
    with _errors():
        from townlet.snapshots.catalog import migrate_file

        r = migrate_file(_root(config_path, root), source, target, overwrite=overwrite)
    _emit(as_json, r, f"{r.source} (schema {r.from_schema}) -> {r.target} (schema "
                      f"{r.to_schema}): " + ("; ".join(r.applied) or "already current"))
