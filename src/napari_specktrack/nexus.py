"""Beamline files as they come: NXtomo (NeXus) files split by ``image_key``, lazily.

A tomography beamline writes one NXtomo file whose detector dataset mixes dark frames, flat
(or, for speckle tracking, membrane-only reference) frames and projections, told apart by
``image_key`` (NeXus NXtomo: 0 projection, 1 flat field, 2 dark field, 3 invalid), with the
rotation angle of each frame in ``rotation_angle`` (degrees). :func:`read_nxtomo` finds
them — ``/entry/instrument/detector/data`` and ``/entry/instrument/detector/image_key`` or
their ``/entry/data/...`` links, ``/entry/sample/rotation_angle`` — and returns each kind as
a lazy dask stack (one chunk per frame, read only when shown or processed) with the angles
of the projections. The Acquisition dock assigns the roles from it; ``reconstruct`` and the
CT dock take the angles.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import FileFormatError

#: NXtomo image_key values
PROJECTION, FLAT, DARK, INVALID = 0, 1, 2, 3
_DATA = ("entry/instrument/detector/data", "entry/data/data", "entry1/instrument/detector/data")
_KEY = ("entry/instrument/detector/image_key", "entry/data/image_key",
        "entry1/instrument/detector/image_key")
_ANGLE = ("entry/sample/rotation_angle", "entry/data/rotation_angle", "entry1/sample/rotation_angle")


@dataclass
class NXtomo:
    """The parts of an NXtomo file (lazy (n, y, x) stacks; None when the file has none).

    Attributes
    ----------
    projections, flats, darks
        Frames with image_key 0, 1 and 2.
    angles_deg
        Rotation angle of each projection, degrees (None if the file records none).
    source
        ``{"path", "dataset"}`` of the detector data, for provenance.
    """

    projections: Any
    flats: Any = None
    darks: Any = None
    angles_deg: np.ndarray | None = None
    source: dict[str, str] = field(default_factory=dict)


def _first(f: Any, names: tuple[str, ...]) -> Any:
    return next((f[n] for n in names if n in f), None)


def is_nxtomo(path: str | os.PathLike) -> bool:
    """True for an HDF5 file with a detector dataset and an ``image_key``."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return _first(f, _DATA) is not None and _first(f, _KEY) is not None
    except (OSError, ValueError):
        return False


def _stack(dset: Any, rows: np.ndarray) -> Any:
    """The frames ``rows`` of an (n, y, x) h5py dataset as a dask stack, one chunk per frame."""
    import dask
    import dask.array as da

    if rows.size == 0:
        return None

    def read(i: int) -> np.ndarray:
        return np.asarray(dset[int(i)])

    frames = [da.from_delayed(dask.delayed(read)(i), shape=dset.shape[1:], dtype=dset.dtype)
              for i in rows]
    return da.stack(frames)


def read_nxtomo(path: str | os.PathLike) -> NXtomo:
    """Split an NXtomo file by ``image_key`` (see the module docstring).

    The file stays open while the returned stacks are in use (h5py closes it with them).
    Raises :class:`FileFormatError` naming what is missing or inconsistent.
    """
    import h5py

    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"{path} is not a readable HDF5 file ({exc})") from exc
    data, key = _first(f, _DATA), _first(f, _KEY)
    if data is None or key is None:
        raise FileFormatError(f"{path} is not an NXtomo file: it needs a detector dataset ({_DATA[0]}) "
                              f"and its image_key ({_KEY[0]})")
    keys = np.asarray(key[()]).astype(int).ravel()
    if data.ndim != 3 or keys.size != data.shape[0]:
        raise FileFormatError(f"{path}: the detector data {data.shape} and image_key ({keys.size} "
                              f"entries) do not match frame for frame")
    angle = _first(f, _ANGLE)
    angles = None
    rows = np.flatnonzero(keys == PROJECTION)
    if angle is not None:
        values = np.asarray(angle[()], dtype=float).ravel()
        if values.size != keys.size:
            raise FileFormatError(f"{path}: rotation_angle has {values.size} entries for "
                                  f"{keys.size} frames")
        angles = values[rows]
    if rows.size == 0:
        raise FileFormatError(f"{path} holds no projections (image_key 0)")
    return NXtomo(_stack(data, rows), _stack(data, np.flatnonzero(keys == FLAT)),
                  _stack(data, np.flatnonzero(keys == DARK)), angles,
                  {"path": str(path), "dataset": data.name})
