"""Reading and writing images, stacks and JSON side files.

Every writer here is atomic: it writes to a temporary file in the destination folder and
renames it into place, so a crash or a full disk never leaves a half-written result, and a
reader never sees one. Writers refuse to overwrite a file that the same call read as input
(see :func:`check_not_input`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FileFormatError, InputError

PathLike = str | os.PathLike


def _atomic_target(path: PathLike) -> tuple[Path, int, str]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    return path, fd, tmp


def write_bytes_atomic(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename)."""
    path, fd, tmp = _atomic_target(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text_atomic(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json(path: PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def read_json(path: PathLike) -> Any:
    """Read a JSON file, with a clear error for a missing or corrupt file."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path} does not exist")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{path} is not valid JSON ({exc}); fix or regenerate it") from exc


def write_tiff(
    path: PathLike,
    data: np.ndarray,
    *,
    metadata: dict[str, Any] | None = None,
    inputs: Iterable[PathLike] = (),
) -> Path:
    """Write an image or a stack as a (multi-page) float32-preserving TIFF, atomically.

    ``metadata`` (geometry, provenance, ...) is stored as JSON in the TIFF's
    ImageDescription. ``inputs`` lists files this result was computed from: writing over
    one of them is refused.
    """
    import tifffile

    check_not_input(path, inputs)
    data = np.asarray(data)
    path, fd, tmp = _atomic_target(path)
    os.close(fd)
    try:
        desc = json.dumps(metadata, default=_json_default) if metadata else None
        tifffile.imwrite(tmp, data, description=desc, metadata=None, photometric="minisblack")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_tiff(path: PathLike, *, memmap: bool = False) -> np.ndarray:
    """Read a TIFF image or multi-page stack as an array ``(y, x)`` or ``(n, y, x)``.

    With ``memmap=True`` an uncompressed, contiguous file is memory-mapped (lazy) instead
    of read into memory; other files are read normally.
    """
    import tifffile

    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path} does not exist; check the path")
    try:
        if memmap:
            try:
                return tifffile.memmap(path, mode="r")
            except ValueError:
                pass  # compressed or not contiguous: fall back to reading
        return tifffile.imread(path)
    except (tifffile.TiffFileError, ValueError, OSError) as exc:
        raise FileFormatError(f"{path} is not a readable TIFF ({exc}); is the file complete?") from exc


def read_tiff_metadata(path: PathLike) -> dict[str, Any]:
    """The JSON metadata that :func:`write_tiff` stored in a TIFF, or ``{}``."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            desc = tif.pages[0].description
    except (tifffile.TiffFileError, OSError) as exc:
        raise FileFormatError(f"{path} is not a readable TIFF ({exc})") from exc
    try:
        meta = json.loads(desc) if desc else {}
    except json.JSONDecodeError:
        return {}
    return meta if isinstance(meta, dict) else {}


def check_not_input(path: PathLike, inputs: Iterable[PathLike]) -> None:
    """Refuse to write ``path`` if it is one of the ``inputs`` (inputs are never overwritten)."""
    target = Path(path).resolve()
    for item in inputs:
        if Path(item).resolve() == target:
            raise InputError(
                f"refusing to overwrite the input file {item}; choose another output path"
            )
