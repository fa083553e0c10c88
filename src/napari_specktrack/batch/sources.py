"""Frame sequences that are read a frame at a time: what ``batch`` and its workers process.

:func:`open_frames` turns what a user gives as ``--sample`` into a :class:`FrameSequence` —
a picklable description (paths, never pixels) that any process can open:

* a TIFF stack ``S.tif`` (one page per frame, memory-mapped when it can be);
* TIFF frames named by number, as a glob ``'frames/*.tif'`` or a folder ``frames/``, sorted
  numerically (``f2.tif`` before ``f10.tif``); re-scanned by :meth:`FrameSequence.refresh`
  while an acquisition writes them (``batch --follow``);
* an HDF5/NeXus dataset ``file.h5`` (the largest image dataset) or ``file.h5:/entry/data/data``;
* a zarr array ``store.zarr`` or ``store.zarr:array``.

:class:`LazyStack` gives the sequence the ``shape`` / ``ndim`` / ``dtype`` / ``[i]`` that
:class:`~napari_specktrack.pipeline.Frames` reads, without loading it.
"""

from __future__ import annotations

import glob as _glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError, InputError

_NUMBER = re.compile(r"(\d+)")


def natural_key(path: str) -> list[Any]:
    """Sort key that orders numbers by value: ``f2.tif`` < ``f10.tif``."""
    return [int(t) if t.isdigit() else t.lower() for t in _NUMBER.split(os.path.basename(path))]


@dataclass
class FrameSequence:
    """A sequence of 2-D frames on disk (see the module docstring); picklable.

    Attributes
    ----------
    kind
        ``"tiff-stack"``, ``"tiff-files"``, ``"hdf5"`` or ``"zarr"``.
    path
        The file, store or glob pattern.
    dataset
        HDF5 dataset or zarr array inside the store (``None``: the default one).
    files
        The TIFF files of ``"tiff-files"``, in frame order.
    """

    kind: str
    path: str
    dataset: str | None = None
    files: list[str] = field(default_factory=list)
    _shape: tuple[int, ...] = ()
    _dtype: str = "float32"
    _handle: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_handle"] = None  # open files do not travel between processes
        return state

    def __len__(self) -> int:
        return self._shape[0]

    @property
    def shape_yx(self) -> tuple[int, int]:
        return tuple(self._shape[1:])

    def describe(self) -> dict[str, Any]:
        """What the provenance records of the sequence."""
        return {"kind": self.kind, "path": str(Path(self.path).resolve()) if self.kind != "tiff-files"
                else self.path, "dataset": self.dataset, "frames": len(self),
                "shape_yx": list(self.shape_yx)}

    def refresh(self) -> int:
        """Re-scan a growing sequence (new TIFF files, a grown dataset); returns the length."""
        if self.kind == "tiff-files":
            self.files = _scan(self.path)
            if self.files:
                shape_yx, self._dtype = _tiff_shape(self.files[0])
                self._shape = (len(self.files), *shape_yx)
        else:
            self._handle = None
            self._shape, self._dtype = self._probe()
        return len(self)

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as a 2-D array (raises FileFormatError naming the frame's file)."""
        if not 0 <= index < len(self):
            raise InputError(f"frame {index} is outside the sequence's {len(self)} frames")
        try:
            frame = self._read(index)
        except (FileFormatError, InputError):
            raise
        except Exception as exc:  # a corrupt or half-written frame
            raise FileFormatError(f"frame {index} of {self.path} could not be read ({exc})") from exc
        if frame.shape != self.shape_yx:
            raise InputError(f"frame {index} is {frame.shape[0]}×{frame.shape[1]} px but the "
                             f"sequence's frames are {self.shape_yx[0]}×{self.shape_yx[1]} px")
        return frame

    def _read(self, index: int) -> np.ndarray:
        import tifffile

        if self.kind == "tiff-files":
            return np.asarray(tifffile.imread(self.files[index]))
        if self._handle is None:
            self._handle = self._open()
        if self._handle.ndim == 2:  # a single image is a sequence of one frame
            return np.asarray(self._handle)
        return np.asarray(self._handle[index])

    def _open(self) -> Any:
        if self.kind == "tiff-stack":
            from ..io import read_tiff

            return read_tiff(self.path, memmap=True)
        if self.kind == "hdf5":
            import h5py

            return h5py.File(self.path, "r")[self.dataset]
        import zarr

        store = zarr.open(self.path, mode="r")
        return store[self.dataset] if self.dataset else store

    def _probe(self) -> tuple[tuple[int, ...], str]:
        arr = self._open()
        shape = tuple(int(s) for s in arr.shape)
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3:
            raise InputError(f"{self.path} holds an array of shape {shape}; the sample must be "
                             f"frames (n, y, x)")
        self._handle = None
        return shape, str(np.dtype(arr.dtype))


def _scan(pattern: str) -> list[str]:
    return sorted((p for p in _glob.glob(pattern) if p.lower().endswith((".tif", ".tiff"))),
                  key=natural_key)


def _tiff_shape(path: str) -> tuple[tuple[int, int], str]:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            return tuple(int(s) for s in page.shape[-2:]), str(page.dtype)
    except Exception as exc:
        raise FileFormatError(f"{path} is not a readable TIFF ({exc})") from exc


def open_frames(spec: str | os.PathLike, *, allow_empty: bool = False) -> FrameSequence:
    """The :class:`FrameSequence` of a ``--sample`` argument (see the module docstring)."""
    from .._reader import HDF5_SUFFIXES
    from ..pipeline.files import split_dataset

    text = str(spec)
    if any(c in text for c in "*?[") or Path(text).is_dir():
        pattern = str(Path(text) / "*.tif*") if Path(text).is_dir() else text
        seq = FrameSequence("tiff-files", pattern)
        if not seq.refresh() and not allow_empty:
            raise InputError(f"no TIFF frames match {pattern!r}; check the folder or the pattern")
        return seq
    path, dataset = split_dataset(text)
    if ".zarr" in text:
        head, _, tail = text.partition(".zarr")
        path, dataset = Path(head + ".zarr"), tail.lstrip(":/") or None
        kind = "zarr"
    elif path.suffix.lower() in HDF5_SUFFIXES:
        kind = "hdf5"
        if dataset is None:
            from .._reader import hdf5_datasets

            found = hdf5_datasets(path)
            if not found:
                raise FileFormatError(f"{path} holds no image dataset")
            dataset = found[0][0]
    else:
        kind = "tiff-stack"
    if not path.exists():
        raise FileFormatError(f"{path} does not exist; check --sample")
    seq = FrameSequence(kind, str(path), dataset)
    seq.refresh()
    return seq


class LazyStack:
    """A :class:`FrameSequence` as the (n, y, x) array-like :class:`Frames` reads frame by frame."""

    def __init__(self, seq: FrameSequence) -> None:
        self.seq = seq

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.seq), *self.seq.shape_yx)

    ndim = 3

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.seq._dtype)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.seq.read(int(index))

    def __len__(self) -> int:
        return len(self.seq)
