"""Reading and writing images, stacks and JSON side files.

Writers are atomic and follow the umask (:mod:`.safety`: temporary file + rename), so a crash
or a full disk never leaves a half-written result and a reader never sees one; they refuse to
overwrite a file that the same call read as input (:func:`check_not_input`). Readers turn
every failure of a file (missing, truncated, corrupt, not the format its name says) into a
:class:`~napari_specktrack.errors.FileFormatError` naming the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FileFormatError
from .safety import atomic_write, check_not_input, write_bytes_atomic, write_text_atomic

PathLike = str | os.PathLike

__all__ = [
    "check_not_input",
    "is_tiff",
    "read_json",
    "read_tiff",
    "read_tiff_metadata",
    "write_bytes_atomic",
    "write_json",
    "write_text_atomic",
    "write_tiff",
]

#: the first bytes of a TIFF (little/big endian) and of a BigTIFF
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def is_tiff(path: PathLike) -> bool:
    """True when ``path`` is a file that starts like a TIFF (its name is not enough)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) in _TIFF_MAGIC
    except OSError:
        return False


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
    except (OSError, ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
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
    desc = json.dumps(metadata, default=_json_default) if metadata else None
    return atomic_write(path, lambda tmp: tifffile.imwrite(
        tmp, data, description=desc, metadata=None, photometric="minisblack"))


def read_tiff(path: PathLike, *, memmap: bool = False) -> np.ndarray:
    """Read a TIFF image or multi-page stack as an array ``(y, x)`` or ``(n, y, x)``.

    With ``memmap=True`` an uncompressed, contiguous file is memory-mapped (lazy) instead
    of read into memory; other files are read normally.
    """
    import tifffile

    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path} does not exist; check the path")
    if not is_tiff(path):
        raise FileFormatError(f"{path} is not a TIFF file (its first bytes are not a TIFF "
                              f"header); give a .tif written by the detector or this plugin")
    try:
        if memmap:
            try:
                data = tifffile.memmap(path, mode="r")
            except ValueError:  # compressed or not contiguous: read it instead
                data = tifffile.imread(path)
        else:
            data = tifffile.imread(path)
    except Exception as exc:  # any parser failure of a user's file is a format problem
        raise FileFormatError(f"{path} is not a readable TIFF ({type(exc).__name__}: {exc}); is "
                              f"the file complete?") from exc
    if data.ndim < 2 or data.size == 0 or min(data.shape[-2:]) < 1:
        raise FileFormatError(f"{path} holds no image (shape {data.shape}); the file is corrupt "
                              f"or empty, write it again")
    return data


def read_tiff_metadata(path: PathLike) -> dict[str, Any]:
    """The JSON metadata that :func:`write_tiff` stored in a TIFF, or ``{}``."""
    import tifffile

    if not Path(path).is_file():
        raise FileFormatError(f"{path} does not exist; check the path")
    if not is_tiff(path):
        raise FileFormatError(f"{path} is not a TIFF file (its first bytes are not a TIFF header)")
    try:
        with tifffile.TiffFile(path) as tif:
            desc = tif.pages[0].description
    except Exception as exc:  # any parser failure of a user's file is a format problem
        raise FileFormatError(f"{path} is not a readable TIFF ({exc})") from exc
    try:
        meta = json.loads(desc) if desc else {}
    except (json.JSONDecodeError, RecursionError):
        return {}
    return meta if isinstance(meta, dict) else {}
