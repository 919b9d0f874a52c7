"""The sweep's results: an append-only journal of finished towns (what ``--resume``
reads, one JSON line per town, flushed and fsynced as each town ends, so a killed
driver loses at most the towns still running) and the table made from it (CSV, or
Parquet when pyarrow is installed, plus a printed summary)."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from townlet.scale.town import TownResult

__all__ = ["Journal", "flat_row", "print_table", "write_table"]

JOURNAL = "journal.jsonl"


class Journal:
    """Finished towns of one sweep, by key; survives a killed driver."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / JOURNAL
        self.done: dict[str, TownResult] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        decoder = msgspec.json.Decoder(TownResult)
        with self.path.open("rb") as f:
            for number, line in enumerate(f, 1):
                if not line.endswith(b"\n"):
                    break  # a line cut short by a crash: that town reruns
                try:
                    result = decoder.decode(line)
                except msgspec.DecodeError as exc:
                    raise ValueError(f"{self.path}:{number}: not a town result ({exc}); "
                                     f"move the file away to start the sweep afresh") from None
                self.done[result.key] = result

    def add(self, result: TownResult) -> None:
        with self.path.open("ab") as f:
            f.write(msgspec.json.encode(result) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        self.done[result.key] = result


def flat_row(result: TownResult) -> dict[str, Any]:
    """A result as one flat row: ``mean_needs`` becomes a ``need_<name>`` column each."""
    row = msgspec.structs.asdict(result)
    for name, value in row.pop("mean_needs").items():
        row[f"need_{name}"] = value
    return row


def write_table(results: Iterable[TownResult], folder: Path, fmt: str) -> Path:
    """Write the results table (``csv`` or ``parquet``) atomically; returns its path."""
    rows = [flat_row(r) for r in sorted(results, key=lambda r: r.key)]
    path = folder / f"results.{fmt}"
    tmp = path.with_suffix(f".{fmt}.tmp")
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), tmp)
    else:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["key"])
            writer.writeheader()
            writer.writerows(rows)
    os.replace(tmp, path)
    return path


def print_table(results: Iterable[TownResult]) -> None:
    """The results as a terminal table (the full rows are in the file)."""
    from rich.console import Console
    from rich.table import Table

    rows = sorted(results, key=lambda r: r.key)
    served = any(r.endpoint for r in rows)
    table = Table(title="Sweep results")
    table.add_column("town", no_wrap=True)
    for name in ("alive", "deaths", "faints", "exits", "money/cap", "steps/s"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("hash", no_wrap=True)
    if served:
        table.add_column("endpoint", no_wrap=True)
    for r in rows:
        cells = [r.key, f"{r.population:,}/{r.agents:,}", str(r.deaths), str(r.faints),
                 str(r.exits), f"{r.money_per_capita:,.2f}", f"{r.agent_steps_per_s:,.0f}",
                 r.state_hash[:8]]
        table.add_row(*cells, *([r.endpoint] if served else []))
    console = Console()
    if not console.is_terminal:
        console.width = 160  # a log or a pipe: no reason to squeeze to 80 columns
    console.print(table)
