"""Console file operations at the edges, through the real server (CURVE, ZAP, keys) and real
files: a target that is the root or a directory, over-long names, FIFOs in the root, files
vanishing while the root is listed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _console import Town

from townlet.client.console import ConsoleClient
from townlet.client.errors import ForbiddenPath, InvalidArgument, NotFound
from townlet.security.sandbox import NotRegularFile, Sandbox
from townlet.snapshots import catalog

LONG = "a" * 300  # one name part over NAME_MAX (255 bytes)


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Town]:
    t = Town(tmp_path_factory.mktemp("fileops"), agents=20, paused=True)
    yield t
    t.close()


@pytest.fixture(scope="module")
def root(town: Town) -> Path:
    return town.server.sandbox.root


@pytest.fixture
def admin(town: Town) -> Iterator[ConsoleClient]:
    with town.client("admin", timeout=10.0) as c:
        yield c


@pytest.fixture
def viewer(town: Town) -> Iterator[ConsoleClient]:
    with town.client("viewer", timeout=10.0) as c:
        yield c


def stamps(*dirs: Path) -> list[tuple[str, ...]]:
    """Each directory's entries and mtime: creating (and removing) a file changes both."""
    return [(str(d.stat().st_mtime_ns), *sorted(os.listdir(d))) for d in dirs]


# -- item 6: the root or a directory as a target ----------------------------------------------
@pytest.mark.parametrize("name", [".", "./", "runs", "runs/", "runs/.", "new-dir/"])
def test_save_to_the_root_or_a_directory_is_refused_before_writing(
        root: Path, admin: ConsoleClient, name: str) -> None:
    (root / "runs").mkdir(exist_ok=True)
    before = stamps(root.parent, root, root / "runs")
    with pytest.raises(InvalidArgument, match="is a directory; name a file"):
        admin.call("snapshot_save", name, overwrite=True)
    assert stamps(root.parent, root, root / "runs") == before  # not even a temporary file
    admin.call("status")


@pytest.mark.parametrize("target", [".", "./", "runs"])
def test_migrate_to_the_root_or_a_directory_is_refused_before_writing(
        root: Path, admin: ConsoleClient, target: str) -> None:
    admin.call("snapshot_save", "src.tsnap", overwrite=True)
    (root / "runs").mkdir(exist_ok=True)
    before = stamps(root.parent, root, root / "runs")
    with pytest.raises(InvalidArgument, match="is a directory"):
        admin.call("snapshot_migrate", "src.tsnap", target, overwrite=True)
    assert stamps(root.parent, root, root / "runs") == before


def test_sandbox_resolve_file_refuses_directories(tmp_path: Path) -> None:
    box = Sandbox(tmp_path / "root")
    (box.root / "d").mkdir()
    for name in (".", "./", "d", "d/", "d/.", "x/"):
        with pytest.raises(IsADirectoryError):
            box.resolve_file(name)
    assert box.resolve_file("d/x.tsnap") == box.root / "d" / "x.tsnap"


# -- item 7: OS errors on paths are typed -----------------------------------------------------
def test_name_part_over_name_max_is_invalid_arg_for_a_viewer(viewer: ConsoleClient) -> None:
    for path in (LONG, f"runs/{LONG}", f"{LONG}/x.tsnap"):
        with pytest.raises(InvalidArgument, match="File name too long") as info:
            viewer.call("files", path)
        assert "characters]': File name too long" in str(info.value)  # the name is cut
    assert viewer.call("status")["tick"] >= 0


@pytest.mark.parametrize("command", ["snapshot_verify", "snapshot_load"])
def test_name_part_over_name_max_is_invalid_arg_for_file_commands(
        admin: ConsoleClient, command: str) -> None:
    with pytest.raises(InvalidArgument, match="File name too long"):
        admin.call(command, f"{LONG}.tsnap")


def test_save_of_over_long_name_is_invalid_arg(root: Path, admin: ConsoleClient) -> None:
    before = stamps(root)
    with pytest.raises(InvalidArgument, match="File name too long"):
        admin.call("snapshot_save", f"{LONG}.tsnap")
    assert stamps(root) == before


def test_longest_allowed_name_can_be_saved(root: Path, admin: ConsoleClient) -> None:
    """A name of 255 bytes is legal, so its temporary file must be creatable too."""
    name = "é" * 121 + "x.tsnap"  # 242 + 7 = 249 bytes, multi-byte characters
    assert len(name.encode()) <= 255
    saved = admin.call("snapshot_save", name, overwrite=True)
    assert saved["name"] == name and (root / name).is_file()
    assert not [p for p in os.listdir(root) if ".tmp-" in p]


def test_file_in_place_of_a_directory_is_typed(root: Path, viewer: ConsoleClient,
                                              admin: ConsoleClient) -> None:
    (root / "plain.bin").write_bytes(b"x")
    with pytest.raises(NotFound, match="Not a directory"):
        viewer.call("files", "plain.bin/inner")
    with pytest.raises(InvalidArgument, match="'plain.bin': File exists"):
        admin.call("snapshot_save", "plain.bin/x.tsnap")


def test_symlink_loop_is_forbidden_path(root: Path, viewer: ConsoleClient) -> None:
    if not (root / "loop").is_symlink():
        os.symlink("loop", root / "loop")
    for path in ("loop", "loop/x"):
        with pytest.raises(ForbiddenPath, match="symbolic links|symlink loop"):
            viewer.call("files", path)


# -- item 8: FIFOs and vanishing files --------------------------------------------------------
def test_fifo_in_the_root_does_not_block_the_console(root: Path, viewer: ConsoleClient,
                                                    admin: ConsoleClient) -> None:
    fifos = [root / "pipe.tsnap", root / "pipe"]
    for f in fifos:
        os.mkfifo(f)
    try:
        listed = viewer.call("snapshot_list")
        assert not [r for r in listed["snapshots"] if r["name"].startswith("pipe")]
        kinds = {e["name"]: e["kind"] for e in viewer.call("files")["entries"]}
        assert kinds["pipe.tsnap"] == kinds["pipe"] == "other"
        verdict = admin.call("snapshot_verify", "pipe.tsnap")
        assert verdict["ok"] is False and "not a regular file" in verdict["error"]
        with pytest.raises(InvalidArgument, match="not a regular file"):
            admin.call("snapshot_load", "pipe.tsnap")
        assert viewer.call("status")["tick"] >= 0  # every client is still served
    finally:
        for f in fifos:
            f.unlink()


def test_open_regular_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    box = Sandbox(tmp_path / "root")
    os.mkfifo(box.root / "pipe")
    with pytest.raises(NotRegularFile):
        box.open_read("pipe")


def test_snapshot_list_tolerates_files_vanishing(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Files removed between reading the directory and reading each file (autosave
    pruning) are left out; real files are removed in exactly that window."""
    root = tmp_path / "root"
    root.mkdir()
    for i in range(6):
        (root / f"s{i}.tsnap").write_bytes(b"not a snapshot")
    real_walk = os.walk

    def walk_then_prune(top: str | os.PathLike[str]) -> Iterator[tuple[str, list[str],
                                                                        list[str]]]:
        for dirpath, dirnames, filenames in real_walk(top):
            for name in filenames[::2]:
                os.unlink(os.path.join(dirpath, name))
            yield dirpath, dirnames, filenames

    monkeypatch.setattr(os, "walk", walk_then_prune)  # the catalog walks with os.walk
    rows = catalog.list_snapshots(root)
    assert [r.name for r in rows] == ["s1.tsnap", "s3.tsnap", "s5.tsnap"]
    assert all(r.error for r in rows)  # the survivors are listed as invalid, not skipped
