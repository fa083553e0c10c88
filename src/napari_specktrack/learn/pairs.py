"""Training pairs for the generator: the pair-folder format and aligned random crops.

A pair folder holds::

    DIR/inputs/<name>.tif    float32 (y, x): sample − reference (flat-field-normalised units)
    DIR/targets/<name>.tif   float32 (y, x): the in-line image (flat-field-normalised, ≈ 1)
    DIR/pairs.json           {"format": "specktrack-pairs", "version": 1,
                              "geometry": {...geometry.json...}, "normalisation": null | {...},
                              "pairs": [{"name", "source": {...}, "frame", "crop_yx_px",
                                         "target"}, ...]}

``source`` is free-form provenance (phantom and seed for simulated pairs; files for measured
ones), ``frame`` the frame index in a stack (or null), ``crop_yx_px`` = [y0, x0, h, w] of the
region the pair was cut from (or null for a whole frame), ``target`` what the target is
("in-line image", measured or with photon noise; "noise-free in-line image" for simulated
pairs by default).

Normalisation (physics-notes §2.6): one fixed affine map per dataset, not per image, so the
network's output stays quantitative — inputs are divided by ``input_scale`` (4 × the standard
deviation of all inputs) and clipped to [−1, 1]; targets map [target_min, target_max] (robust
0.1–99.9 % percentiles) to [−1, 1] to match the tanh output. The statistics are stored in every
checkpoint so inference uses exactly the training map.

This module imports no torch at module level; :class:`PairDataset` does, when used.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError, InputError
from ..geometry import Geometry

FORMAT = "specktrack-pairs"
VERSION = 1


def write_pairs(
    out_dir: str | Path,
    inputs: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    records: Sequence[dict],
    geometry: Geometry,
    *,
    normalisation: dict | None = None,
    append: bool = False,
) -> Path:
    """Write (or, with ``append``, add to) a pair folder; every file is written atomically."""
    from ..io import write_json, write_tiff

    if not (len(inputs) == len(targets) == len(records)):
        raise InputError(
            f"got {len(inputs)} inputs, {len(targets)} targets and {len(records)} records; "
            f"give one of each per pair"
        )
    out = Path(out_dir)
    index_path = out / "pairs.json"
    if append and index_path.exists():
        index = _read_index(out)
        if index["geometry"] != geometry.to_dict():
            raise InputError(
                f"{out} holds pairs of another geometry; write these to a new pair folder"
            )
    else:
        index = {"format": FORMAT, "version": VERSION, "geometry": geometry.to_dict(),
                 "normalisation": normalisation, "pairs": []}
    names = {p["name"] for p in index["pairs"]}
    for inp, tgt, rec in zip(inputs, targets, records, strict=True):
        inp = np.asarray(inp, np.float32)
        tgt = np.asarray(tgt, np.float32)
        if inp.ndim != 2 or inp.shape != tgt.shape:
            raise InputError(
                f"pair {rec.get('name')!r}: input {inp.shape} and target {tgt.shape} must be 2-D "
                f"images of one shape"
            )
        name = str(rec.get("name") or f"pair_{len(index['pairs']):05d}")
        if name in names:
            raise InputError(f"pair name {name!r} already exists in {out}; names must be unique")
        if not (np.isfinite(inp).all() and np.isfinite(tgt).all()):
            raise InputError(f"pair {name!r} contains NaN/inf; fix the images first")
        write_tiff(out / "inputs" / f"{name}.tif", inp)
        write_tiff(out / "targets" / f"{name}.tif", tgt)
        names.add(name)
        index["pairs"].append({
            "name": name,
            "source": rec.get("source", {}),
            "frame": rec.get("frame"),
            "crop_yx_px": rec.get("crop_yx_px"),
            "shape": list(inp.shape),
            "target": rec.get("target", "in-line image"),
        })
    if normalisation is not None:
        index["normalisation"] = normalisation
    write_json(index_path, index)
    return out


def _read_index(folder: Path) -> dict:
    from ..io import read_json

    path = folder / "pairs.json"
    if not path.is_file():
        raise FileFormatError(
            f"{folder} is not a pair folder (no pairs.json); make one with "
            f"`specktrack simulate --pairs N --out DIR` or the curation widget"
        )
    index = read_json(path)
    if not isinstance(index, dict) or index.get("format") != FORMAT or "pairs" not in index:
        raise FileFormatError(f"{path} is not a {FORMAT} index; regenerate the pair folder")
    return index


@dataclass
class PairFolder:
    """A pair folder on disk; arrays are read lazily by :meth:`load`."""

    path: Path
    geometry: Geometry
    records: list[dict]
    normalisation: dict | None

    @property
    def names(self) -> list[str]:
        return [r["name"] for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(input, target) of pair ``i`` as float32 arrays."""
        from ..io import read_tiff

        name = self.records[i]["name"]
        inp = read_tiff(self.path / "inputs" / f"{name}.tif").astype(np.float32)
        tgt = read_tiff(self.path / "targets" / f"{name}.tif").astype(np.float32)
        if inp.shape != tgt.shape:
            raise FileFormatError(
                f"pair {name!r}: input {inp.shape} and target {tgt.shape} differ; re-export it"
            )
        return inp, tgt


def read_pairs(folder: str | Path) -> PairFolder:
    """Open and validate a pair folder (every listed pair must have both files)."""
    folder = Path(folder)
    index = _read_index(folder)
    for rec in index["pairs"]:
        for sub in ("inputs", "targets"):
            if not (folder / sub / f"{rec['name']}.tif").is_file():
                raise FileFormatError(
                    f"pair {rec['name']!r} is listed in pairs.json but {sub}/{rec['name']}.tif is "
                    f"missing; restore it or remove the entry"
                )
    if not index["pairs"]:
        raise FileFormatError(f"{folder} holds no pairs")
    return PairFolder(folder, Geometry.from_dict(index["geometry"]), list(index["pairs"]),
                      index.get("normalisation"))


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
    input and target; images smaller than the crop are reflect-padded. Returns torch tensors
    (1, h, w) of input and target.
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
        ph, pw = max(0, h - inp.shape[0]), max(0, w - inp.shape[1])
        if ph or pw:
            inp = np.pad(inp, ((0, ph), (0, pw)), mode="reflect")
            tgt = np.pad(tgt, ((0, ph), (0, pw)), mode="reflect")
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


def load_pairs_json(path: str | Path) -> dict:
    """The raw pairs.json index (for tools that edit a pair folder)."""
    return json.loads(Path(path).read_text())
