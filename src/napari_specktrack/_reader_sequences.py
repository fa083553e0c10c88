"""napari reader for sequences that stay on disk: TIFF-frame folders, zarr stores, NXtomo files.

* a folder of TIFF frames named by number (``frame_2.tif`` before ``frame_10.tif``) opens as
  one lazy (n, y, x) stack, a frame read when the slider shows it;
* a zarr store: a ``specktrack batch`` result opens as its phase, transmission, dark-field,
  displacement and quality layers (lazy dask over zarr, in µm with the store's geometry), any
  other zarr array as one layer;
* an NXtomo file (NeXus with ``image_key``) opens as its projections, flats and darks (lazy),
  the projections carrying their rotation angles (``metadata["angles_deg"]``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

LayerData = tuple[Any, dict[str, Any], str]


def is_tiff_folder(path: Path) -> bool:
    """A folder holding at least one TIFF frame (by content)."""
    from .io import is_tiff

    if not path.is_dir() or path.suffix.lower() == ".zarr":
        return False
    return any(is_tiff(p) for p in sorted(path.glob("*.tif*"))[:1])


def is_zarr_store(path: Path) -> bool:
    """A zarr v2 or v3 store (a folder with zarr metadata)."""
    return path.is_dir() and any((path / n).is_file() for n in ("zarr.json", ".zgroup", ".zarray"))


def _scale(geometry: dict | None, ndim: int) -> dict[str, Any]:
    from .geometry import Geometry

    if not isinstance(geometry, dict):
        return {}
    try:
        scale = (1.0,) * (ndim - 2) + tuple(Geometry.from_dict(geometry).layer_scale_um)
    except Exception:  # a foreign geometry: keep pixels as the unit
        return {}
    return {"scale": scale, "units": ("pixel",) * (ndim - 2) + ("um", "um")}


def read_tiff_folder(path: str | os.PathLike) -> list[LayerData]:
    """A folder of numbered TIFF frames as one lazy stack."""
    import dask
    import dask.array as da

    from .batch.sources import open_frames

    seq = open_frames(path)
    shape, dtype = seq.shape_yx, seq._dtype
    frames = [da.from_delayed(dask.delayed(seq.read)(i), shape=shape, dtype=dtype)
              for i in range(len(seq))]
    meta = {"source_path": str(Path(path)), "frames": [os.path.basename(f) for f in seq.files]}
    return [(da.stack(frames), {"name": Path(path).name, "metadata": meta}, "image")]


def read_zarr(path: str | os.PathLike) -> list[LayerData]:
    """A zarr store: a batch result's fields, or its arrays, as lazy layers."""
    import dask.array as da
    import zarr

    from .errors import FileFormatError
    from .pipeline import OUTPUT_FIELDS

    try:
        node = zarr.open(str(path), mode="r")
    except Exception as exc:
        raise FileFormatError(f"{path} is not a readable zarr store ({exc})") from exc
    if not hasattr(node, "keys"):
        return [(da.from_zarr(node), {"name": Path(path).stem, "metadata": {"source_path": str(path)}},
                 "image")]
    attrs = dict(node.attrs)
    fields = [f for f in OUTPUT_FIELDS if f.key in node]
    layers = []
    for f in fields or []:
        data = da.from_zarr(node[f.key])
        meta = {"geometry": attrs.get("geometry"), "provenance": attrs.get("provenance"),
                "unit": f.unit, "source_path": str(path), "dataset": f.key}
        layers.append((data, {"name": f.layer, "metadata": meta, "colormap": f.colormap,
                              "visible": f.key == "phase", **_scale(attrs.get("geometry"), data.ndim)},
                       "image"))
    if not layers:
        for key in sorted(k for k in node.keys() if hasattr(node[k], "shape") and node[k].ndim >= 2):
            layers.append((da.from_zarr(node[key]), {"name": key, "metadata": {"source_path": str(path)}},
                           "image"))
    if not layers:
        raise FileFormatError(f"{path} holds no image arrays")
    return layers


def read_nxtomo_layers(path: str | os.PathLike) -> list[LayerData]:
    """An NXtomo file as its projections, flats and darks (lazy)."""
    from .nexus import read_nxtomo

    scan = read_nxtomo(path)
    stem = Path(path).stem
    base = {"source_path": str(path), "dataset": scan.source["dataset"], "nxtomo": True}
    layers = []
    for data, what in ((scan.darks, "darks"), (scan.flats, "flats"), (scan.projections, "projections")):
        if data is None:
            continue
        meta = {**base, "image_key": what}
        if what == "projections" and scan.angles_deg is not None:
            meta["angles_deg"] = [float(a) for a in scan.angles_deg]
        layers.append((data, {"name": f"{stem}:{what}", "metadata": meta,
                              "visible": what == "projections"}, "image"))
    return layers
