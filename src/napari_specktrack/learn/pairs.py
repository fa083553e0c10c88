"""Training pairs for the generator: the pair-folder format, its validation, aligned crops.

A pair folder holds::

    DIR/inputs/<name>.tif      float32 (y, x): sample − reference (flat-field units)
    DIR/targets/<name>.tif     float32 (y, x): the in-line image (flat-field units, ≈ 1)
    DIR/references/<name>.tif  float32 (y, x): the reference at the same box (optional, v2),
                               so sample = input + reference can be rebuilt (e.g. for a
                               double-exposure phase on validation pairs)
    DIR/pairs.json             {"format": "specktrack-pairs", "version": 2,
                                "geometry": {...geometry.json...}, "normalisation": null | {...},
                                "units": "flat-field" | ..., "provenance": {...} | null,
                                "pairs": [record, ...]}

A record (version 2; version-1 records read with the defaults in brackets)::

    {"name": "f00003_y00100_x00040",      # safe file stem: [A-Za-z0-9][A-Za-z0-9._-]*, ≤ 128
     "source": {...},                      # files with sha256 (provenance.file_input), or the
                                           # simulation (phantom, seed, config)
     "frame": 3 | null,                    # frame index in the source stack
     "crop_yx_px": [y0, x0, h, w] | null,  # box cut from the source frame (null: whole frame)
     "shape": [h, w],                      # of the three images
     "shift_yx_px": [dy, dx] | null,       # sub-pixel shift applied to the target [null]
     "split": "train" | "validation",      # ["train"]
     "flags": ["edge", ...],               # curation flags of the crop [[]]
     "reference": true | false,            # references/<name>.tif exists [false]
     "target": "in-line image" | "noise-free in-line image"}

Writing goes through :class:`~.pair_writer.PairWriter` (one :class:`~napari_specktrack.safety.
OutputSet`: an existing set is refused unless overwritten whole or explicitly appended to or
updated; staged and swapped in whole). :func:`read_pairs` checks a folder completely before
any training: the index schema, safe and unique names, every file present, 2-D, of the
recorded shape, and (``check_values``) finite.

Normalisation (physics-notes §2.6): one fixed affine map per dataset, not per image, so the
network's output stays quantitative — inputs are divided by ``input_scale`` (4 × the standard
deviation of all inputs) and clipped to [−1, 1]; targets map [target_min, target_max] (robust
0.1–99.9 % percentiles) to [−1, 1] to match the tanh output. The statistics are stored in every
checkpoint so inference uses exactly the training map.

This module imports no torch at module level; :class:`PairDataset` does, when used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError, InputError
from ..geometry import Geometry
from .pair_format import (  # noqa: F401  (the format's names, importable from here)
    FORMAT,
    KINDS,
    READABLE_VERSIONS,
    SPLITS,
    VERSION,
    check_files,
    check_name,
    choose_validation,
    image_path,
    normalise_record,
    read_index,
)


@dataclass
class PairFolder:
    """A checked pair folder on disk; arrays are read lazily by :meth:`load`.

    ``records`` are version-2 records (see the module docstring); ``index`` is the rest of
    pairs.json (version, units, provenance).
    """

    path: Path
    geometry: Geometry
    records: list[dict]
    normalisation: dict | None
    index: dict = field(default_factory=dict, repr=False)

    @property
    def names(self) -> list[str]:
        return [r["name"] for r in self.records]

    @property
    def version(self) -> int:
        return int(self.index.get("version", VERSION))

    def __len__(self) -> int:
        return len(self.records)

    def position(self, name: str) -> int:
        """The index of pair ``name``."""
        try:
            return self.names.index(name)
        except ValueError:
            raise InputError(f"{self.path} holds no pair {name!r}") from None

    def _read(self, kind: str, i: int) -> np.ndarray:
        from ..io import read_tiff

        name = self.records[i]["name"]
        data = read_tiff(image_path(self.path, kind, name)).astype(np.float32)
        if data.ndim != 2 or not np.isfinite(data).all():
            raise FileFormatError(f"pair {name!r}: its {kind} is not a finite 2-D image; "
                                  f"re-export it or remove its entry from pairs.json")
        return data

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(input, target) of pair ``i`` as float32 arrays."""
        inp, tgt = self._read("input", i), self._read("target", i)
        if inp.shape != tgt.shape:
            name = self.records[i]["name"]
            raise FileFormatError(f"pair {name!r}: input {inp.shape} and target {tgt.shape} "
                                  f"differ; re-export it")
        return inp, tgt

    def load_reference(self, i: int) -> np.ndarray | None:
        """The reference crop of pair ``i`` (float32), or None when the folder has none."""
        return self._read("reference", i) if self.records[i]["reference"] else None

    def subset(self, split: str) -> PairFolder:
        """The pairs of one split ("train" or "validation"), as a folder view."""
        if split not in SPLITS:
            raise InputError(f"split must be one of {SPLITS}, got {split!r}")
        return replace(self, records=[r for r in self.records if r["split"] == split])


def read_pairs(folder: str | Path, *, check_values: bool = True) -> PairFolder:
    """Open and check a pair folder completely (see the module docstring).

    Shapes are read from the TIFF headers; with ``check_values`` (default) every image is
    memory-mapped and checked for NaN/inf too. Every problem is one
    :class:`FileFormatError` naming the pair and the fix.
    """
    folder = Path(folder)
    index = read_index(folder)
    if not index["pairs"]:
        raise FileFormatError(f"{folder} holds no pairs; add some with `specktrack pairs` or "
                              f"the curation dock")
    for rec in index["pairs"]:
        check_files(folder, rec, check_values)
    rest = {k: v for k, v in index.items() if k != "pairs"}
    return PairFolder(folder, Geometry.from_dict(index["geometry"]), list(index["pairs"]),
                      index.get("normalisation"), rest)


def write_pairs(
    out_dir: str | Path,
    inputs: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    records: Sequence[dict],
    geometry: Geometry,
    *,
    normalisation: dict | None = None,
    append: bool = False,
    overwrite: bool = False,
    references: Sequence[np.ndarray | None] | None = None,
) -> Path:
    """Write a pair folder (or, with ``append``, add to one) in one staged swap.

    An existing folder is refused unless ``append`` or ``overwrite`` (replaces it whole).
    See :class:`~.pair_writer.PairWriter` for the general writer.
    """
    from .pair_writer import PairWriter

    refs = list(references) if references is not None else [None] * len(inputs)
    if not (len(inputs) == len(targets) == len(records) == len(refs)):
        raise InputError(f"got {len(inputs)} inputs, {len(targets)} targets, {len(records)} "
                         f"records and {len(refs)} references; give one of each per pair")
    mode = "append" if append else ("overwrite" if overwrite else "new")
    with PairWriter(out_dir, geometry, mode=mode, normalisation=normalisation) as writer:
        for inp, tgt, rec, ref in zip(inputs, targets, records, refs, strict=True):
            writer.add(inp, tgt, rec, reference=ref)
    return Path(out_dir)


# --- normalisation and the training dataset ---------------------------------------------------
def compute_normalisation(folder: PairFolder, max_pairs: int = 64) -> dict[str, float]:
    """The dataset's fixed affine maps (see module docstring), from up to ``max_pairs`` pairs."""
    step = max(1, len(folder) // max_pairs)
    ins, tgs = [], []
    for i in range(0, len(folder), step):
        a, b = folder.load(i)
        ins.append(a.ravel()[::7])
        tgs.append(b.ravel()[::7])
    inp = np.concatenate(ins)
    tgt = np.concatenate(tgs)
    lo, hi = np.percentile(tgt, [0.1, 99.9])
    if hi <= lo:
        hi = lo + 1.0
    return {"input_scale": float(4 * inp.std() + 1e-6), "target_min": float(lo),
            "target_max": float(hi)}


def normalise_input(x: np.ndarray, norm: dict[str, float]) -> np.ndarray:
    """(sample − reference) → network input in [−1, 1]."""
    return np.clip(np.asarray(x, np.float32) / norm["input_scale"], -1.0, 1.0)


def normalise_target(y: np.ndarray, norm: dict[str, float]) -> np.ndarray:
    """In-line image → [−1, 1] (the tanh range)."""
    lo, hi = norm["target_min"], norm["target_max"]
    return (2.0 * (np.asarray(y, np.float32) - lo) / (hi - lo) - 1.0).astype(np.float32)


def denormalise_target(y: np.ndarray, norm: dict[str, float]) -> np.ndarray:
    """Network output in [−1, 1] → in-line image in flat-field units."""
    lo, hi = norm["target_min"], norm["target_max"]
    return ((np.asarray(y, np.float32) + 1.0) * 0.5 * (hi - lo) + lo).astype(np.float32)


class PairDataset:
    """Aligned random crops of a pair folder, normalised, with flips/rot90 augmentation.

    Item ``i`` of epoch ``e`` is reproducible from (seed, e, i). Crops are
    ``crop_yx_px`` = (h, w) (default the paper's 1024 × 512), cut at the same position from
    input and target; an image smaller than the crop is used whole along that side (training
    checks that such sides are multiples of the generator's 2^n_downsampling). Returns torch
    tensors (1, h, w) of input and target. Use ``folder.subset("train")`` to train on one split.
    """

    def __init__(self, folder: PairFolder, norm: dict[str, float], *,
                 crop_yx_px: tuple[int, int] = (1024, 512), augment: bool = True, seed: int = 0):
        self.folder = folder
        self.norm = norm
        self.crop = tuple(int(c) for c in crop_yx_px)
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.folder)

    def _pair(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if i not in self._cache:
            a, b = self.folder.load(i)
            self._cache[i] = (normalise_input(a, self.norm), normalise_target(b, self.norm))
        return self._cache[i]

    def __getitem__(self, i: int) -> Any:
        import torch

        rng = np.random.default_rng([self.seed, self.epoch, i])
        inp, tgt = self._pair(i)
        h, w = self.crop
        # a quarter turn in half the items: cut the crop transposed, np.rot90 below restores its
        # shape (before, square crops were never turned: a network trained on them saw every
        # tube of the spheres phantom upright and failed on a turned one)
        rotate = rng.random() < 0.5 and self.augment
        if rotate:
            h, w = w, h
        # a frame smaller than the crop is used whole along that side (the run checked that its
        # sides are multiples of the generator's; batches are single pairs, so sizes never mix)
        h, w = min(h, inp.shape[0]), min(w, inp.shape[1])
        y0 = int(rng.integers(0, inp.shape[0] - h + 1))
        x0 = int(rng.integers(0, inp.shape[1] - w + 1))
        a = inp[y0:y0 + h, x0:x0 + w]
        b = tgt[y0:y0 + h, x0:x0 + w]
        if self.augment:
            if rng.random() < 0.5:
                a, b = a[:, ::-1], b[:, ::-1]
            if rng.random() < 0.5:
                a, b = a[::-1], b[::-1]
            if rotate:
                a, b = np.rot90(a), np.rot90(b)
        return (torch.from_numpy(np.ascontiguousarray(a))[None],
                torch.from_numpy(np.ascontiguousarray(b))[None])


def normalisation_ok(norm: Any) -> bool:
    """True for a usable normalisation: finite ``input_scale > 0`` and ``target_min < target_max``."""
    try:
        scale, lo, hi = (float(norm[k]) for k in ("input_scale", "target_min", "target_max"))
    except (TypeError, KeyError, ValueError):
        return False
    return bool(np.isfinite([scale, lo, hi]).all()) and scale > 0 and hi > lo
