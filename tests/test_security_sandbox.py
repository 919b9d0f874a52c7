"""File sandbox: every traversal form is refused before any I/O; honest paths resolve."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from townlet.security.sandbox import ForbiddenPath, Sandbox


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    root = tmp_path / "snapshots"
    (root / "runs" / "a").mkdir(parents=True)
    (root / "runs" / "a" / "s1.tsnap").write_bytes(b"data")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", root / "leak")
    os.symlink(tmp_path, root / "up")
    os.symlink(root / "runs" / "a", root / "inside_link")
    return Sandbox(root)


@pytest.mark.parametrize("path", [
    "runs/a/s1.tsnap", "runs/./a/s1.tsnap", "runs//a/s1.tsnap", "new.tsnap", "runs/b/new.tsnap",
    ".", "inside_link/s1.tsnap", "名前.tsnap",
])
def test_honest_paths_resolve_inside(box: Sandbox, path: str) -> None:
    real = box.resolve(path)
    assert real.is_relative_to(box.root)


@pytest.mark.parametrize("path,why", [
    ("/etc/passwd", "absolute"),
    ("//etc/passwd", "absolute"),
    ("\\\\server\\share", "absolute"),
    ("C:\\Windows\\win.ini", "absolute"),
    ("C:relative", "absolute"),
    ("~/.ssh/id_rsa", "absolute"),
    ("../secret.txt", "'..'"),
    ("runs/../../secret.txt", "'..'"),
    ("runs/a/../../..", "'..'"),
    ("..\\secret.txt", "'..'"),
    ("..", "'..'"),
    ("leak", "leaves the snapshot root"),
    ("up/secret.txt", "leaves the snapshot root"),
    ("a\x00b", "NUL"),
    ("", "empty"),
    ("bad\udcff", "UTF-8"),
    (b"\xff\xfe", "UTF-8"),
    (42, "must be a string"),
    (None, "must be a string"),
])
def test_traversal_forms_are_refused(box: Sandbox, path: object, why: str) -> None:
    with pytest.raises(ForbiddenPath, match=why) as info:
        box.resolve(path)
    assert info.value.code == "E_FORBIDDEN_PATH"


def test_bytes_path_utf8_is_accepted(box: Sandbox) -> None:
    assert box.resolve(b"runs/a/s1.tsnap") == box.root / "runs" / "a" / "s1.tsnap"


def test_open_read_reads_inside_and_refuses_symlinks(box: Sandbox) -> None:
    fd = box.open_read("runs/a/s1.tsnap")
    try:
        assert os.read(fd, 10) == b"data"
    finally:
        os.close(fd)
    with pytest.raises(ForbiddenPath):
        box.open_read("leak")
    # a symlink that stays inside the root is honest
    os.symlink(box.root / "runs" / "a" / "s1.tsnap", box.root / "alias")
    fd = box.open_read("alias")
    os.close(fd)


def test_nothing_is_created_for_refused_paths(box: Sandbox, tmp_path: Path) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    for bad in ("../x", "/tmp/x", "up/x"):
        with pytest.raises(ForbiddenPath):
            box.resolve(bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_relative_form(box: Sandbox) -> None:
    assert box.relative(box.resolve("runs/a/s1.tsnap")) == "runs/a/s1.tsnap"


def test_root_is_created_and_canonical(tmp_path: Path) -> None:
    os.symlink(tmp_path, tmp_path / "alias")
    box = Sandbox(tmp_path / "alias" / "snaps")
    assert box.root == (tmp_path / "snaps").resolve()
    assert box.root.is_dir()
