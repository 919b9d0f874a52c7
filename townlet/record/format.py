"""The recording file format: one row per frame message, Arrow IPC or Parquet.

Columns (docs/ops/recording.md): ``seq`` (uint64), ``tick`` (int64), ``kind``
(``key``/``delta``), ``stream`` (the publisher's stream id), ``received_ns``
(int64, the recorder's clock) and ``payload`` (the msgpack wire message, as in
docs/protocol.md). The schema metadata carries ``townlet.recording`` (this
format's version) and ``townlet.config_id``. pyarrow is the optional ``ops``
extra; importing this module without it raises an ImportError that says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import pyarrow as pa
    import pyarrow.ipc
    import pyarrow.parquet as pq
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("recordings need pyarrow: pip install -c constraints.txt "
                      "'townlet[ops]'") from exc

__all__ = ["FORMAT_VERSION", "SCHEMA", "SUFFIXES", "FileWriter", "Row", "read_rows",
           "recording_files"]

FORMAT_VERSION = "1"
SUFFIXES = {"arrow": ".arrow", "parquet": ".parquet"}
SCHEMA = pa.schema([
    ("seq", pa.uint64()), ("tick", pa.int64()), ("kind", pa.string()),
    ("stream", pa.string()), ("received_ns", pa.int64()), ("payload", pa.large_binary()),
])


@dataclass(frozen=True, slots=True)
class Row:
    """One recorded frame message."""

    seq: int
    tick: int
    kind: str
    stream: str
    received_ns: int
    payload: bytes


def recording_files(directory: Path) -> list[Path]:
    """Recordings in ``directory``, oldest first (names sort by start time)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir()
                  if p.name.startswith("rec-") and p.suffix in SUFFIXES.values()
                  and p.is_file() and not p.is_symlink())


class FileWriter:
    """An open recording file; ``write`` appends one record batch."""

    def __init__(self, path: Path, writer: Any, sink: Any) -> None:
        self.path = path
        self._writer = writer
        self._sink = sink

    @classmethod
    def open(cls, path: Path, fmt: str, *, config_id: str | None) -> FileWriter:
        schema = SCHEMA.with_metadata({"townlet.recording": FORMAT_VERSION,
                                       "townlet.config_id": config_id or ""})
        sink = pa.OSFile(str(path), "wb")
        try:
            writer = (pa.ipc.new_file(sink, schema) if fmt == "arrow"
                      else pq.ParquetWriter(sink, schema, compression="zstd"))
        except BaseException:
            sink.close()
            raise
        return cls(path, writer, sink)

    def write(self, rows: list[Row]) -> None:
        cols: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
        for r in rows:
            cols["seq"].append(r.seq)
            cols["tick"].append(r.tick)
            cols["kind"].append(r.kind)
            cols["stream"].append(r.stream)
            cols["received_ns"].append(r.received_ns)
            cols["payload"].append(r.payload)
        self._writer.write_batch(pa.RecordBatch.from_pydict(cols, schema=SCHEMA))

    def size(self) -> int:
        return int(self._sink.tell())

    def close(self) -> None:
        try:
            self._writer.close()
        finally:
            self._sink.close()

    def abandon(self) -> None:
        """Close after a failed write, ignoring further errors (the disk is the problem)."""
        try:
            self.close()
        except OSError:
            return


def read_rows(path: Path) -> Iterator[Row]:
    """Every row of a recording, in order (Arrow IPC or Parquet, by suffix)."""
    if path.suffix == SUFFIXES["parquet"]:
        batches: Iterator[Any] = pq.ParquetFile(str(path)).iter_batches()
    else:
        reader = pa.ipc.open_file(pa.memory_map(str(path), "r"))
        batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
    for batch in batches:
        d = batch.to_pydict()
        for i in range(batch.num_rows):
            yield Row(d["seq"][i], d["tick"][i], d["kind"][i], d["stream"][i],
                      d["received_ns"][i], d["payload"][i])
