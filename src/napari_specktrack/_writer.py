"""napari writer: result layers → float32 TIFF + a JSON sidecar with geometry and provenance.

For ``phase.tif`` the writer also writes ``phase.json`` beside it::

    {"name": "phase", "geometry": {...geometry.json keys...},
     "provenance": {"step", "params", "inputs", "version"}, "scale": [...], "unit": "rad"}

and stores the same record as JSON in the TIFF's ImageDescription, so either file alone
carries it (the reader restores both the metadata and the µm ``scale``). Writes are atomic
(temporary file + rename, :mod:`.safety`) and never replace the file a layer was read from or
computed from. A sidecar never replaces a JSON file that is not a layer sidecar: a layer named
"geometry" saved with others is written as ``geometry_layer.tif`` so that the folder's
``geometry.json`` (or ``provenance.json``, ``phantom.json``, ``pairs.json``,
``simulation.json``, ``run.json``) stays, and saving one layer as ``geometry.tif`` beside such
a file is refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, OutputError

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: stems of the side files this package writes into result folders: layer files avoid them
RESERVED_STEMS = ("geometry", "provenance", "phantom", "pairs", "simulation", "run")
#: the keys of a layer sidecar (:func:`_record`)
_SIDECAR_KEYS = {"name", "geometry", "provenance", "unit", "scale"}


def _is_layer_sidecar(path: Path) -> bool:
    """True when ``path`` is a sidecar this writer wrote (safe to replace)."""
    import json

    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(content, dict) and "name" in content and set(content) <= _SIDECAR_KEYS


def _check_sidecar(sidecar: Path, image: Path) -> None:
    if sidecar.exists() and not _is_layer_sidecar(sidecar):
        raise OutputError(f"saving {image.name} would replace {sidecar} beside it, which is not a "
                          f"layer sidecar (the folder's own {sidecar.name}); save the layer under "
                          f"another name")


def _record(name: str, meta: dict[str, Any]) -> dict[str, Any]:
    metadata = meta.get("metadata") or {}
    record: dict[str, Any] = {"name": name}
    for key in ("geometry", "provenance", "unit"):
        if key in metadata:
            record[key] = metadata[key]
    if meta.get("scale") is not None:
        record["scale"] = [float(s) for s in meta["scale"]]
    return record


def _inputs(meta: dict[str, Any]) -> list[str]:
    """Files the layer came from or was computed from: never overwritten."""
    metadata = meta.get("metadata") or {}
    found = [metadata.get("source_path")]
    prov = metadata.get("provenance") or {}
    if isinstance(prov, dict):
        found += [x for x in prov.get("inputs") or [] if isinstance(x, str)]
    return [x for x in found if isinstance(x, str) and Path(x).is_file()]


def write_image_with_sidecar(path: str | Path, data: Any, meta: dict[str, Any]) -> list[str]:
    """Write one image layer as ``path`` (TIFF) plus ``path.with_suffix('.json')``."""
    from .io import write_json, write_tiff

    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        path = path.with_suffix(".tif")
    name = str(meta.get("name") or path.stem)
    record = _record(name, meta)
    inputs = _inputs(meta)
    sidecar = path.with_suffix(".json")
    from .safety import check_not_input, check_writable

    check_writable(path, "the file")
    check_not_input(path, inputs, "the file")
    check_not_input(sidecar, inputs, "the sidecar")
    _check_sidecar(sidecar, path)
    array = np.asarray(data)
    if array.dtype.kind == "f" and array.dtype != np.float32:
        array = array.astype(np.float32)
    write_tiff(path, array, metadata=record, inputs=inputs)
    write_json(sidecar, record)
    return [str(path), str(sidecar)]


def write_single_image(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """npe2 single-layer writer (``*.tif``, ``*.tiff``)."""
    return write_image_with_sidecar(path, data, meta)


def write_multiple(path: str, layer_data: list[tuple[Any, dict[str, Any], str]]) -> list[str]:
    """npe2 multi-layer writer: ``path`` is a folder; each image layer → ``<name>.tif`` + ``.json``."""
    folder = Path(path)
    if folder.suffix:
        raise InputError(
            f"saving several layers needs a folder name, got {folder.name!r}; give a name without "
            f"an extension, or select a single layer to save as .tif."
        )
    written: list[str] = []
    used: set[str] = set()
    for data, meta, layer_type in layer_data:
        if layer_type != "image":
            continue
        stem = _SAFE.sub("_", str(meta.get("name") or "layer")).strip("_.") or "layer"
        if stem.lower() in RESERVED_STEMS:
            stem = f"{stem}_layer"
        base, k = stem, 1
        while stem in used:
            k += 1
            stem = f"{base}_{k}"
        used.add(stem)
        written += write_image_with_sidecar(folder / f"{stem}.tif", data, meta)
    return written
