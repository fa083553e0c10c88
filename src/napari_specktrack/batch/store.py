"""The zarr result store of a batch run: one chunk per frame, resumable, lock-free.

``DIR.zarr`` is a group with the arrays of :data:`~napari_specktrack.pipeline.OUTPUT_FIELDS`
(``phase``, ``transmission``, ``darkfield``, ``dx``, ``dy``, ``quality``), each (n, y, x)
float32 chunked (1, y, x), plus ``done`` (n,) uint8 chunked per frame. A task writes a frame's
six chunks and then its ``done`` flag; each frame is written by one task only, to chunks no
other task touches, so no locks are needed. The group's attributes hold the geometry, the
provenance record and the run's ``key`` (its parameters and inputs): a run started again with
the same command finds the same key and computes only the frames whose ``done`` flag is not
set; another command on the same store is refused unless ``--overwrite``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OutputError
from ..pipeline import OUTPUT_FIELDS

DONE = "done"


def _create(group: Any, name: str, shape: tuple[int, ...], chunks: tuple[int, ...], dtype: str) -> Any:
    """A chunked array compressed with Blosc LZ4 + byte shuffle: as small as zarr 3's default
    Zstandard on retrieved float32 fields, and one frame's six fields written ≈ 2× faster
    (``benchmarks/bench_kernels.py``): a worker pays it at every frame."""
    if hasattr(group, "create_array"):  # zarr 3
        from zarr.codecs import BloscCodec

        return group.create_array(name, shape=shape, chunks=chunks, dtype=dtype, fill_value=0,
                                  compressors=BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"))
    from numcodecs import Blosc  # zarr 2

    return group.create_dataset(name, shape=shape, chunks=chunks, dtype=dtype, fill_value=0,
                                compressor=Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE))


def create_store(path: str | Path, n_frames: int, shape_yx: tuple[int, int], *,
                 key: dict[str, Any], attrs: dict[str, Any]) -> Any:
    """A new result store at ``path`` (which must not exist), sized for ``n_frames``."""
    import zarr

    group = zarr.open_group(str(path), mode="w-")
    for f in OUTPUT_FIELDS:
        _create(group, f.key, (n_frames, *shape_yx), (1, *shape_yx), "float32")
        group[f.key].attrs.update({"unit": f.unit, "description": f.description})
    _create(group, DONE, (n_frames,), (1,), "uint8")
    group.attrs.update({**attrs, "key": key})
    return group


def open_store(path: str | Path, *, key: dict[str, Any]) -> Any:
    """An existing store of the same run (same ``key``), for resuming; else OutputError."""
    import zarr

    try:
        group = zarr.open_group(str(path), mode="r+")
        stored = dict(group.attrs).get("key")
    except Exception as exc:
        raise OutputError(f"--out {path} exists but is not a specktrack batch store ({exc}); "
                          f"choose a new --out, or pass --overwrite to replace it") from exc
    if json.loads(json.dumps(stored)) != json.loads(json.dumps(key)):
        raise OutputError(f"--out {path} holds a run with other parameters or inputs; choose a new "
                          f"--out, or pass --overwrite to replace it (the same command resumes)")
    return group


def done_frames(group: Any) -> np.ndarray:
    """Bool (n,): which frames are complete."""
    return np.asarray(group[DONE][:]) == 1


def grow(group: Any, n_frames: int) -> None:
    """Resize every array to ``n_frames`` (a growing acquisition; driver only)."""
    for name in [f.key for f in OUTPUT_FIELDS] + [DONE]:
        arr = group[name]
        if arr.shape[0] < n_frames:
            arr.resize((n_frames, *arr.shape[1:]))


def write_frame(group: Any, index: int, arrays: dict[str, np.ndarray]) -> None:
    """Write frame ``index``'s fields, then its done flag (a crash in between recomputes it)."""
    for f in OUTPUT_FIELDS:
        group[f.key][index] = np.asarray(arrays[f.attr], np.float32)
    group[DONE][index] = 1
