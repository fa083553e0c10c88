"""One provenance record for every result, whichever front end made it.

Layer metadata, the TIFF sidecar JSON, the CLI's ``provenance.json`` and the zarr attributes
of a batch all hold the same record, built by :func:`make_record` and checked by
:func:`validate`::

    {"schema": "napari-specktrack/provenance/1",
     "step": "retrieve",                      # what made it (a name of STEPS)
     "params": {...},                          # every parameter used, JSON values only
     "inputs": {"sample": {"path": "/abs/sample.tif", "sha256": "…", "bytes": 123},
                "reference": {"layer": "reference"},    # a napari layer, by name
                "generator": {"path": "…/lite.safetensors", "sha256": "…", "bytes": 1}},
     "geometry": {...geometry.json keys...} | null,
     "version": "0.1.0",                       # napari-specktrack
     "time": "2026-12-02T14:41:54Z"}           # UTC, when the record was made

An input is a file (absolute path, SHA-256 and size in bytes, so a result can be traced to
the exact bytes it came from), a napari layer (by name), an array handed to the API
(``{"array": [shape…]}``), or a sequence of frames too large to hash up front
(``{"sequence": {kind, path, dataset, frames, shape_yx}}``, see ``batch``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import __version__

SCHEMA = "napari-specktrack/provenance/1"
#: the steps that make results
STEPS = ("simulate", "generate", "retrieve", "reconstruct", "pairs", "train", "profile", "batch")
#: the keys every record has
KEYS = ("schema", "step", "params", "inputs", "geometry", "version", "time")

_CHUNK = 1 << 22


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def file_input(path: str | os.PathLike) -> dict[str, Any]:
    """The record of an input file: absolute path, SHA-256, size in bytes."""
    p = Path(path).expanduser().resolve()
    return {"path": str(p), "sha256": sha256_file(p), "bytes": p.stat().st_size}


def layer_input(name: str) -> dict[str, Any]:
    """The record of an input napari layer (by name)."""
    return {"layer": str(name)}


def array_input(shape: tuple[int, ...]) -> dict[str, Any]:
    """The record of an array passed to the API (no file behind it)."""
    return {"array": [int(s) for s in shape]}


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays, paths and tuples turned into JSON values."""
    import numpy as np

    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return str(value)
    return value


def make_record(step: str, params: Mapping[str, Any], inputs: Mapping[str, Any],
                geometry: Any = None, **extra: Any) -> dict[str, Any]:
    """A provenance record (see the module docstring); ``extra`` keys are added as they are.

    ``geometry`` is a :class:`~napari_specktrack.geometry.Geometry`, its dict, or None.
    """
    if hasattr(geometry, "to_dict"):
        geometry = geometry.to_dict()
    rec = {
        "schema": SCHEMA,
        "step": step,
        "params": jsonable(dict(params)),
        "inputs": jsonable(dict(inputs)),
        "geometry": jsonable(geometry),
        "version": __version__,
        "time": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **jsonable(extra),
    }
    validate(rec)
    return rec


def _check_input(role: str, item: Any) -> None:
    if not isinstance(item, Mapping):
        raise ValueError(f"provenance input {role!r} must be an object, got {type(item).__name__}")
    if "path" in item:
        if not (isinstance(item.get("sha256"), str) and len(item["sha256"]) == 64):
            raise ValueError(f"provenance input {role!r} is a file without a sha256")
    elif not any(k in item for k in ("layer", "array", "generated", "sequence")):
        raise ValueError(f"provenance input {role!r} must name a path, a layer, an array or a "
                         f"frame sequence")


def validate(record: Any) -> None:
    """Raise ValueError unless ``record`` follows the schema (and is JSON-serialisable)."""
    if not isinstance(record, Mapping):
        raise ValueError(f"a provenance record is an object, got {type(record).__name__}")
    missing = [k for k in KEYS if k not in record]
    if missing:
        raise ValueError(f"provenance record lacks {missing}")
    if record["schema"] != SCHEMA:
        raise ValueError(f"provenance schema {record['schema']!r} is not {SCHEMA!r}")
    if record["step"] not in STEPS:
        raise ValueError(f"provenance step {record['step']!r} is not one of {STEPS}")
    if not isinstance(record["params"], Mapping) or not isinstance(record["inputs"], Mapping):
        raise ValueError("provenance params and inputs must be objects")
    for role, item in record["inputs"].items():
        _check_input(role, item)
    if record["geometry"] is not None:
        from .geometry import Geometry

        Geometry.from_dict(dict(record["geometry"]))
    if not isinstance(record["version"], str) or not isinstance(record["time"], str):
        raise ValueError("provenance version and time must be strings")
    json.dumps(record)
