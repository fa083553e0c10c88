"""napari reader: TIFF / multi-page TIFF stacks and HDF5 / NeXus datasets as Image layers.

* TIFF: uncompressed files are memory-mapped (a stack of hundreds of frames opens instantly
  and pages are read only when shown); compressed multi-page files larger than
  :data:`LAZY_BYTES` become a lazy dask stack read page by page.
* HDF5 / NeXus (``.h5 .hdf5 .hdf .nxs .nx5``): the largest numeric 2-D or 3-D dataset by
  default; pick another with :func:`read_hdf5` (``dataset="/entry/data/data"``) or in the
  Acquisition widget, which lists :func:`hdf5_datasets`. Large datasets stay lazy (dask over
  h5py, one frame per chunk).
* Folders of numbered TIFF frames, zarr stores (a ``batch`` result opens as its fields) and
  NXtomo files (split by ``image_key``) open lazily: :mod:`._reader_sequences`.
* Geometry: if the TIFF carries specktrack JSON metadata, or a ``<name>.json`` sidecar (as the
  writer writes) or a ``geometry.json`` sits beside the file, the layer gets
  ``metadata["geometry"]`` and a ``scale`` in µm (object-plane pixel).

:func:`napari_get_reader` returns None, never raises, for anything it cannot read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FileFormatError, InputError

TIFF_SUFFIXES = (".tif", ".tiff")
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".nxs", ".nx5")
#: files larger than this (bytes) that cannot be memory-mapped are read lazily
LAZY_BYTES = 512 * 1024**2

LayerData = tuple[Any, dict[str, Any], str]


def napari_get_reader(path: str | list[str]) -> Callable[[Any], list[LayerData]] | None:
    """npe2 ``get_reader`` hook: a reader for TIFF/HDF5 paths, or None for anything else.

    A file is offered by its content, not its name alone: a ``.tif`` must start like a TIFF
    (:func:`~napari_specktrack.io.is_tiff`), an HDF5 file must carry the HDF5 signature and hold
    an image dataset. Never raises: anything unexpected means "not ours" (None).
    """
    try:
        paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
        if not paths or not all(_readable(Path(p)) for p in paths):
            return None
    except Exception:  # a path napari hands over that is not even a path
        return None
    return read_paths


def _readable(p: Path) -> bool:
    """True when ``p`` is a TIFF or HDF5 file by name *and* content, with an image in it."""
    from ._reader_sequences import is_tiff_folder, is_zarr_store
    from .io import is_tiff

    suffix = p.suffix.lower()
    if p.is_dir():  # a folder of TIFF frames, or a zarr store
        return is_zarr_store(p) or is_tiff_folder(p)
    if not p.is_file():
        return False
    if suffix in TIFF_SUFFIXES:
        return is_tiff(p)
    if suffix in HDF5_SUFFIXES:
        return is_hdf5(p) and _hdf5_has_image(p)
    return False


#: the 8-byte signature of an HDF5 file, at offset 0 or after a user block of 512·2^k bytes
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5(path: str | os.PathLike) -> bool:
    """True when ``path`` carries the HDF5 signature (at 0, 512, 1024, 2048, … bytes)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            offset = 0
            while offset + 8 <= size:
                fh.seek(offset)
                if fh.read(8) == HDF5_SIGNATURE:
                    return True
                offset = 512 if offset == 0 else 2 * offset
    except OSError:
        return False
    return False


def read_paths(path: str | list[str]) -> list[LayerData]:
    """Read one or several paths into napari layer-data tuples: one Image layer per file; the
    layers of a folder of TIFF frames, a zarr store or an NXtomo file (:mod:`._reader_sequences`)."""
    from . import _reader_sequences as seq
    from .nexus import is_nxtomo

    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    layers: list[LayerData] = []
    for item in map(Path, paths):
        if seq.is_zarr_store(item):
            layers += seq.read_zarr(item)
        elif item.is_dir():
            layers += seq.read_tiff_folder(item)
        elif item.suffix.lower() in HDF5_SUFFIXES and is_nxtomo(item):
            layers += seq.read_nxtomo_layers(item)
        else:
            layers.append(read_file(item))
    return layers


def read_file(path: str | os.PathLike, dataset: str | None = None) -> LayerData:
    """One file → ``(data, layer kwargs, "image")``; ``dataset`` picks an HDF5 dataset path."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        data, meta = read_tiff_lazy(p), _tiff_metadata(p)
        name = p.stem
    elif suffix in HDF5_SUFFIXES:
        data, dataset = read_hdf5(p, dataset)
        meta = {"dataset": dataset}
        name = f"{p.stem}:{dataset.rsplit('/', 1)[-1]}"
    else:
        raise FileFormatError(
            f"{p} is neither TIFF ({', '.join(TIFF_SUFFIXES)}) nor HDF5 ({', '.join(HDF5_SUFFIXES)}); "
            f"convert it to one of these."
        )
    meta = {**_sidecar_metadata(p), **meta, "source_path": str(p)}
    kwargs: dict[str, Any] = {"name": name, "metadata": meta}
    geometry = meta.get("geometry")
    if isinstance(geometry, dict):
        from .geometry import Geometry

        try:
            scale_um = Geometry.from_dict(geometry).layer_scale_um
            kwargs["scale"] = (1.0,) * (np.ndim(data) - 2) + tuple(scale_um)
        except Exception:  # a foreign geometry: keep pixels as the unit
            pass
    return data, kwargs, "image"


# --- TIFF ----------------------------------------------------------------------------------
def read_tiff_lazy(path: str | os.PathLike) -> Any:
    """A TIFF as a numpy array, a read-only memmap, or (large and compressed) a dask stack.

    A file that is not a readable TIFF with an image in it raises
    :class:`~napari_specktrack.errors.FileFormatError` (never an empty array).
    """
    import tifffile

    from .io import read_tiff

    p = Path(path)
    try:
        data = tifffile.memmap(p, mode="r")
    except Exception:  # compressed, tiled, not contiguous, or corrupt: read_tiff judges it
        data = None
    if data is not None and data.ndim >= 2 and data.size > 0:
        return data
    if not p.is_file() or p.stat().st_size <= LAZY_BYTES:
        return read_tiff(p)
    import dask
    import dask.array as da

    try:
        with tifffile.TiffFile(p) as tif:
            n = len(tif.pages)
            page = tif.pages[0]
            shape, dtype = page.shape, page.dtype
    except Exception as exc:  # any parser failure of a user's file is a format problem
        raise FileFormatError(f"{p} is not a readable TIFF ({type(exc).__name__}: {exc}); is the "
                              f"file complete?") from exc
    if len(shape) < 2 or 0 in shape:
        raise FileFormatError(f"{p} holds no image (first page {shape}); the file is corrupt")

    def _page(i: int) -> np.ndarray:
        return tifffile.imread(p, key=i)

    frames = [da.from_delayed(dask.delayed(_page)(i), shape=shape, dtype=dtype) for i in range(n)]
    return da.stack(frames) if n > 1 else frames[0]


def _tiff_metadata(path: Path) -> dict[str, Any]:
    from .io import read_tiff_metadata

    try:
        return read_tiff_metadata(path)
    except FileFormatError:
        return {}


def _sidecar_metadata(path: Path) -> dict[str, Any]:
    """``<stem>.json`` beside the file (the writer's sidecar), else ``geometry.json`` beside it."""
    sidecar = path.with_suffix(".json")
    out: dict[str, Any] = {}
    for candidate, key in ((sidecar, None), (path.parent / "geometry.json", "geometry")):
        if not candidate.is_file():
            continue
        try:
            content = json.loads(candidate.read_text())
        except (OSError, ValueError, RecursionError):  # JSON or UTF-8 errors: no sidecar
            continue
        if not isinstance(content, dict):
            continue
        if key is None:
            out.update(content)
        else:
            out.setdefault(key, content)
    return out


# --- HDF5 / NeXus ----------------------------------------------------------------------------
def hdf5_datasets(path: str | os.PathLike) -> list[tuple[str, tuple[int, ...], str]]:
    """Numeric 2-D and 3-D datasets of an HDF5 file: ``(path, shape, dtype)``, largest first."""
    import h5py

    found: list[tuple[str, tuple[int, ...], str]] = []
    if not Path(path).is_file():
        raise FileFormatError(f"{path} does not exist; check the path")

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and obj.ndim in (2, 3) and obj.dtype.kind in "uif":
            found.append(("/" + name, tuple(int(s) for s in obj.shape), str(obj.dtype)))

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError … on damaged files
        raise FileFormatError(f"{path} is not a readable HDF5 file ({str(exc)[:160]}); is it "
                              f"complete?") from exc
    found.sort(key=lambda item: -int(np.prod(item[1])))
    return found


def _hdf5_has_image(path: Path) -> bool:
    try:
        return bool(hdf5_datasets(path))
    except Exception:
        return False


def read_hdf5(path: str | os.PathLike, dataset: str | None = None) -> tuple[Any, str]:
    """Read an HDF5/NeXus dataset; returns ``(array, dataset path)``.

    ``dataset=None`` picks the largest numeric 2-D/3-D dataset. Datasets up to
    :data:`LAZY_BYTES` are read into memory; larger ones stay on disk as a dask array with one
    frame per chunk (the file stays open for napari to read from).
    """
    import h5py

    candidates = hdf5_datasets(path)
    if dataset is None:
        if not candidates:
            raise FileFormatError(
                f"{path} holds no numeric 2-D or 3-D dataset; check that it contains image data."
            )
        dataset = candidates[0][0]
    names = [c[0] for c in candidates]
    key = dataset if dataset.startswith("/") else "/" + dataset
    if key not in names:
        listing = ", ".join(names[:10]) or "none"
        raise InputError(
            f"{path} has no image dataset {dataset!r}; the numeric 2-D/3-D datasets are: {listing}."
        )
    try:
        f = h5py.File(path, "r")
        dset = f[key]
        nbytes = int(np.prod(dset.shape)) * dset.dtype.itemsize
        if nbytes <= LAZY_BYTES:
            try:
                return np.asarray(dset[()]), key
            finally:
                f.close()
    except Exception as exc:  # a damaged dataset (bad chunk, truncated file)
        raise FileFormatError(f"{path}: dataset {key} cannot be read ({str(exc)[:160]}); is the "
                              f"file complete?") from exc
    import dask.array as da

    chunks = (1, *dset.shape[1:]) if dset.ndim == 3 else dset.shape
    return da.from_array(dset, chunks=chunks), key
