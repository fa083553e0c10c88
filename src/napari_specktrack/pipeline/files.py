"""Files in and out of a run, for the command line (the widgets hand over layers instead).

* :func:`read_image` — a TIFF (memory-mapped when it can be) or an HDF5/NeXus dataset;
* :func:`load_frames` — the images of a run from their files, with their provenance inputs;
* :func:`load_geometry` — ``--geometry``, or the geometry a TIFF written by this package carries;
* :func:`write_result` — a retrieval's result folder (DESIGN.md: ``phase.tif`` …
  ``provenance.json``), through an :class:`~napari_specktrack.safety.OutputSet`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError, GeometryError
from ..geometry import Geometry
from ..provenance import file_input
from .fields import INLINE_FIELD, OUTPUT_FIELDS
from .frames import Frames

PathLike = str | os.PathLike

#: the files of a retrieval result folder
RESULT_FILES = (*(f.file for f in OUTPUT_FIELDS), "provenance.json")


def split_dataset(path: PathLike) -> tuple[Path, str | None]:
    """``file.h5:/entry/data`` → (``file.h5``, ``/entry/data``); other paths → (path, None)."""
    from .._reader import HDF5_SUFFIXES

    text = str(path)
    for suffix in HDF5_SUFFIXES:
        cut = text.lower().find(f"{suffix}:")
        if cut >= 0:
            return Path(text[:cut + len(suffix)]), text[cut + len(suffix) + 1:] or None
    return Path(text), None


def read_image(path: PathLike) -> Any:
    """A TIFF image or stack (memory-mapped when uncompressed), or the largest image dataset of
    an HDF5/NeXus file (``file.h5``) or a named one (``file.h5:/entry/data/data``)."""
    from .._reader import HDF5_SUFFIXES, read_hdf5
    from ..io import read_tiff

    p, dataset = split_dataset(path)
    if p.suffix.lower() in HDF5_SUFFIXES:
        if not p.is_file():
            raise FileFormatError(f"{p} does not exist; check the path")
        return read_hdf5(p, dataset)[0]
    return read_tiff(p, memmap=True)


def load_frames(reference: PathLike, sample: PathLike, *, inline: PathLike | None = None,
                dark: PathLike | None = None, flat: PathLike | None = None
                ) -> tuple[Frames, dict[str, Any], list[Path]]:
    """(Frames, provenance inputs by role, the input paths) from image files."""
    roles = {"reference": reference, "sample": sample, "inline": inline, "dark": dark, "flat": flat}
    given = {k: v for k, v in roles.items() if v is not None}
    arrays = {k: read_image(v) for k, v in given.items()}
    paths = {k: split_dataset(v)[0] for k, v in given.items()}
    inputs = {k: file_input(p) for k, p in paths.items()}
    frames = Frames(arrays["sample"], arrays["reference"], inline=arrays.get("inline"),
                    dark=arrays.get("dark"), flat=arrays.get("flat"))
    return frames, inputs, list(paths.values())


def load_geometry(geometry: PathLike | None, carrier: PathLike) -> Geometry:
    """The geometry from ``geometry`` (a geometry.json), else the one ``carrier`` (a TIFF
    written by this package) holds in its metadata."""
    from ..io import read_tiff_metadata

    if geometry is not None:
        return Geometry.from_json(geometry)
    meta = read_tiff_metadata(carrier).get("geometry") if str(carrier).lower().endswith(
        (".tif", ".tiff")) else None
    if meta is None:
        raise GeometryError(f"no geometry: {carrier} carries none; pass --geometry geometry.json "
                            f"(energy_keV, pixel_size_m, distance_m, source_distance_m, "
                            f"source_size_m)")
    return Geometry.from_dict(meta)


def write_result(result: Any, outputs: Any) -> list[Path]:
    """Write a :class:`~.run.RunResult` into a staged :class:`OutputSet` folder; returns paths.

    Each field's TIFF carries ``{"geometry", "provenance", "unit", "description"}`` as JSON;
    ``provenance.json`` holds the record; a generated in-line image goes to
    ``inline_generated.tif``.
    """
    from ..io import write_json, write_tiff

    prov = result.provenance
    written = []
    fields = list(OUTPUT_FIELDS) + ([INLINE_FIELD] if result.inline_generated is not None else [])
    for f in fields:
        meta = {"geometry": prov["geometry"], "provenance": prov, "unit": f.unit,
                "description": f.description}
        written.append(write_tiff(outputs.path(f.file), np.asarray(result.field(f.key), np.float32),
                                  metadata=meta))
    written.append(write_json(outputs.path("provenance.json"), prov))
    return written
