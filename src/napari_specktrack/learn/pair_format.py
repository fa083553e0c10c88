"""The pair-folder format's definitions and checks (the format is described in :mod:`.pairs`).

Names, versions and splits; :func:`read_index` checks ``pairs.json`` (schema, safe unique
names, geometry, normalisation) and normalises version-1 records to version 2;
:func:`check_files` checks one pair's images from their TIFF headers (present, 2-D, of the
recorded shape) and, optionally, their values (finite). Every problem is one
:class:`~napari_specktrack.errors.FileFormatError` naming the pair and the fix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError, InputError, SpecktrackError
from ..geometry import Geometry

FORMAT = "specktrack-pairs"
VERSION = 2
READABLE_VERSIONS = (1, 2)
SPLITS = ("train", "validation")
#: the image kinds of a pair and their sub-folders
KINDS = {"input": "inputs", "target": "targets", "reference": "references"}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_name(name: Any) -> str:
    """``name`` if it is a safe pair name (a file stem, no path), else :class:`InputError`."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise InputError(f"pair name {name!r} is not a safe file name: use letters, digits, '.', "
                         f"'_' and '-' only (≤ 128, no path separators, no '..')")
    return name


def choose_validation(n: int, fraction: float, seed: int = 0) -> np.ndarray:
    """Which of ``n`` pairs are held out for validation (bool array), a seeded choice.

    ``round(fraction · n)`` pairs, but at least one when ``fraction > 0`` and ``n ≥ 2``, and
    never all of them (one pair at least is left to train on).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise InputError(f"number of pairs must be ≥ 1, got {n!r}")
    fraction = float(fraction)
    if not 0.0 <= fraction < 1.0:
        raise InputError(f"validation fraction must be in [0, 1), got {fraction}")
    k = round(fraction * n)
    if fraction > 0 and n >= 2:
        k = min(max(k, 1), n - 1)
    chosen = np.zeros(n, bool)
    if k:
        chosen[np.random.default_rng([int(seed), 11]).choice(n, size=k, replace=False)] = True
    return chosen


# --- the index ---------------------------------------------------------------------------------
def _fail(folder: Path, what: str, fix: str) -> FileFormatError:
    return FileFormatError(f"pair folder {folder}: {what}; {fix}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_numbers(v: Any, n: int, *, ints: bool) -> bool:
    if not isinstance(v, list) or len(v) != n:
        return False
    if ints:
        return all(_is_int(x) for x in v)
    return all(isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x)
               for x in v)


def normalise_record(rec: Any, folder: Path, version: int) -> dict:
    """A record with every version-2 key, checked; raises :class:`FileFormatError`."""
    if not isinstance(rec, dict):
        raise _fail(folder, f"a pairs.json entry is a {type(rec).__name__}, not an object",
                    "regenerate the pair folder")
    try:
        name = check_name(rec.get("name"))
    except InputError as exc:
        raise _fail(folder, str(exc), "rename the entry and its files") from None
    out = {"source": {}, "frame": None, "crop_yx_px": None, "shape": None, "shift_yx_px": None,
           "split": "train", "flags": [], "reference": False, "target": "in-line image", **rec}
    bad = None
    if out["frame"] is not None and not (_is_int(out["frame"]) and out["frame"] >= 0):
        bad = f"frame {out['frame']!r} (an index ≥ 0 or null)"
    elif out["crop_yx_px"] is not None and not (_check_numbers(out["crop_yx_px"], 4, ints=True)
                                                and min(out["crop_yx_px"]) >= 0):
        bad = f"crop_yx_px {out['crop_yx_px']!r} ([y0, x0, h, w] in pixels, or null)"
    elif out["shape"] is not None and not (_check_numbers(out["shape"], 2, ints=True)
                                           and min(out["shape"]) >= 1):
        bad = f"shape {out['shape']!r} ([h, w] in pixels)"
    elif out["shift_yx_px"] is not None and not _check_numbers(out["shift_yx_px"], 2, ints=False):
        bad = f"shift_yx_px {out['shift_yx_px']!r} ([dy, dx] in pixels, or null)"
    elif out["split"] not in SPLITS:
        bad = f"split {out['split']!r} (one of {SPLITS})"
    elif not (isinstance(out["flags"], list) and all(isinstance(f, str) for f in out["flags"])):
        bad = f"flags {out['flags']!r} (a list of names)"
    elif not isinstance(out["reference"], bool) or not isinstance(out["source"], dict):
        bad = "reference (true/false) or source (an object)"
    if bad is not None:
        raise _fail(folder, f"pair {name!r} has an invalid {bad}", "fix pairs.json or re-export")
    if version == 1:
        out["reference"] = False
    return out


def read_index(folder: str | Path) -> dict:
    """The checked pairs.json of ``folder`` (records normalised to version 2)."""
    from ..io import read_json

    folder = Path(folder)
    path = folder / "pairs.json"
    if not path.is_file():
        raise FileFormatError(f"{folder} is not a pair folder (no pairs.json); make one with "
                              f"`specktrack pairs`, `specktrack simulate --pairs N` or the "
                              f"curation dock")
    index = read_json(path)
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise FileFormatError(f"{path} is not a {FORMAT} index; regenerate the pair folder")
    version = index.get("version", 1)
    if version not in READABLE_VERSIONS:
        raise _fail(folder, f"pairs.json is version {version!r}, this package reads "
                    f"{READABLE_VERSIONS}", "update napari-specktrack or regenerate the folder")
    if not isinstance(index.get("pairs"), list):
        raise _fail(folder, "pairs.json has no list of pairs", "regenerate the pair folder")
    try:
        Geometry.from_dict(index.get("geometry"))
    except SpecktrackError as exc:
        raise _fail(folder, f"its geometry is invalid ({exc})", "fix pairs.json") from None
    _check_normalisation(folder, index.get("normalisation"))
    records = [normalise_record(r, folder, version) for r in index["pairs"]]
    seen: set[str] = set()
    for r in records:
        if r["name"] in seen:
            raise _fail(folder, f"pair name {r['name']!r} is listed twice", "remove one entry")
        seen.add(r["name"])
    return {**index, "version": version, "pairs": records}


def _check_normalisation(folder: Path, norm: Any) -> None:
    from .pairs import normalisation_ok

    if norm is not None and not normalisation_ok(norm):
        raise _fail(folder, f"its normalisation {norm!r} is not {{input_scale > 0, target_min < "
                    f"target_max}}", "delete the entry (it is recomputed) or fix it")


# --- the files ---------------------------------------------------------------------------------
def image_path(folder: Path, kind: str, name: str) -> Path:
    """Where image ``kind`` ("input", "target", "reference") of pair ``name`` lives."""
    return Path(folder) / KINDS[kind] / f"{check_name(name)}.tif"


def _header(path: Path, name: str, kind: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of a pair image from its TIFF header, without reading the pixels."""
    import tifffile

    from ..io import is_tiff

    fix = "re-export the pair or remove its entry from pairs.json"
    if not path.is_file():
        raise FileFormatError(f"pair {name!r} is listed in pairs.json but {path.parent.name}/"
                              f"{path.name} is missing; restore it, or {fix}")
    if not is_tiff(path):
        raise FileFormatError(f"pair {name!r}: {path} is not a TIFF; {fix}")
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            return tuple(int(s) for s in series.shape), np.dtype(series.dtype)
    except Exception as exc:  # any parser failure of a damaged file is a format problem
        raise FileFormatError(f"pair {name!r}: {path} is not a readable TIFF ({exc}); {fix}") from exc


def check_files(folder: Path, rec: dict, check_values: bool) -> None:
    name = rec["name"]
    kinds = ["input", "target"] + (["reference"] if rec["reference"] else [])
    shapes = {}
    for kind in kinds:
        path = image_path(folder, kind, name)
        shape, dtype = _header(path, name, kind)
        if len(shape) != 2 or dtype.kind not in "fiu":
            raise FileFormatError(f"pair {name!r}: its {kind} is {shape} {dtype}, not a 2-D "
                                  f"numeric image; re-export the pair or remove its entry")
        shapes[kind] = shape
        if check_values:
            _check_finite(path, name, kind)
    want = tuple(rec["shape"]) if rec["shape"] else shapes["input"]
    crop = rec["crop_yx_px"]
    if crop is not None and tuple(crop[2:]) != want:
        raise FileFormatError(f"pair {name!r}: crop_yx_px {crop} does not match its shape "
                              f"{list(want)}; re-export the pair")
    for kind, shape in shapes.items():
        if shape != want:
            raise FileFormatError(f"pair {name!r}: its {kind} is {shape[0]}×{shape[1]} px but the "
                                  f"pair is {want[0]}×{want[1]} px; re-export the pair or remove "
                                  f"its entry")


def _check_finite(path: Path, name: str, kind: str) -> None:
    import tifffile

    try:
        data = tifffile.memmap(path, mode="r")
    except Exception:  # compressed or not contiguous: read it
        from ..io import read_tiff

        data = read_tiff(path)
    if not np.isfinite(data).all():
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise FileFormatError(f"pair {name!r}: its {kind} holds {bad} NaN/inf pixel(s); "
                              f"re-export the pair or remove its entry from pairs.json")
