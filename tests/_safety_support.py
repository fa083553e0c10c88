"""Shared helpers of the safety-policy tests (tests/test_safety_*.py, issue 11).

One small simulated acquisition (96² spheres) and one retrieval result are written once per
session; every case checks its input files' SHA-256 before and after, the exit status, the one
line on stderr and that no raw traceback escaped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import tifffile

from napari_specktrack import cli

_CACHE: dict[str, Path] = {}
#: a process id that cannot be alive (above Linux's largest pid_max, 2^22)
DEAD_PID = 99_999_999


def sha256s(*paths: Path) -> dict[str, str]:
    """SHA-256 of every file under ``paths`` (files or folders)."""
    found: dict[str, str] = {}
    for p in paths:
        p = Path(p)
        files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())
        for f in files:
            found[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return found


def acquisition(tmp_path_factory) -> Path:
    """The session's simulated acquisition folder (never written by a case)."""
    if "acq" not in _CACHE:
        out = tmp_path_factory.mktemp("safety") / "acq"
        assert cli.main(["simulate", "--size", "96", "--seed", "1", "--out", str(out)]) == 0
        _CACHE["acq"] = out
    return _CACHE["acq"]


def result(tmp_path_factory) -> Path:
    """A retrieval result folder of the acquisition (copy it before changing it)."""
    if "result" not in _CACHE:
        acq = acquisition(tmp_path_factory)
        out = acq.parent / "result"
        assert cli.main(["retrieve", "--reference", str(acq / "reference.tif"),
                         "--sample", str(acq / "sample.tif"), "--out", str(out)]) == 0
        _CACHE["result"] = out
    return _CACHE["result"]


def run_cli(capsys, argv: list, *inputs: Path, rc: int | None = 2) -> str:
    """Run ``specktrack argv`` in-process; assert the exit status (``None``: 0 or 2), that the
    inputs are unchanged and that no traceback was printed. Returns stderr."""
    before = sha256s(*inputs)
    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    if rc is None:
        assert code in (0, 2), (code, err)
    else:
        assert code == rc, (code, err)
    assert sha256s(*inputs) == before, "an input file changed"
    if code == 2:
        errors = [line for line in err.splitlines() if ": error: " in line]
        assert len(errors) == 1, err  # one line that names the input and the fix
    return err


def error_line(err: str) -> str:
    return next(line for line in err.splitlines() if ": error: " in line)


def write_tif(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.asarray(data))
    return path


def geometry_file(path: Path, acq: Path, **changes) -> Path:
    g = json.loads((acq / "geometry.json").read_text())
    g.update(changes)
    path.write_text(json.dumps(g))
    return path


def corrupt_first_ifd(src: Path, dst: Path, offset: int = 2**31) -> Path:
    """A copy of a TIFF whose first-IFD offset points nowhere (bytes 4–7)."""
    data = bytearray(src.read_bytes())
    data[4:8] = int(offset).to_bytes(4, "little")
    dst.write_bytes(bytes(data))
    return dst


def stale_part(folder: Path, name: str) -> Path:
    """A temporary file as a SIGKILLed writer leaves it (pid of a dead process)."""
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f".{name}.{DEAD_PID}.deadbeef.part"
    p.write_bytes(b"half a file")
    return p


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def modes(folder: Path) -> set[int]:
    """Permission bits of the files under ``folder``."""
    return {os.stat(p).st_mode & 0o777 for p in folder.rglob("*") if p.is_file()}
