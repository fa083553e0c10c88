"""Checks a training run makes before it creates anything: the run folder and the pairs.

* :func:`plan_run_folder` — the never-overwrite policy of :mod:`napari_specktrack.safety`
  for a run folder: a non-empty one is refused (naming ``--resume`` and ``--overwrite``);
  with ``overwrite`` the new run is written in a staging folder beside the old one and
  swapped in whole when it writes its first checkpoint (see :class:`RunFolder`); a folder
  that is a pair folder, or holds files that are not a run's, is never replaced.
* :func:`open_pairs` — the pair folder opened and checked up front, one pair at a time:
  complete index entries, 2-D finite images of one shape per pair, at least the crop.
* :func:`split_pairs` — training and validation pairs (``"split": "validation"``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FileFormatError, InputError, OutputError, SpecktrackError
from ..safety import OutputSet, check_writable, clean_stale
from .pairs import PairFolder, read_pairs

#: files that make a folder a run folder (one of them suffices for --overwrite to replace it)
RUN_FILES = ("run.json", "checkpoint.pt", "losses.csv", "generator.safetensors")


class RunFolder:
    """Where the files of a run go while it runs.

    Resumed runs write in place. A new run writes into the :class:`OutputSet`'s staging folder
    until :meth:`commit`: at once when there was no old run, at the first checkpoint when it
    replaces one (so a crash before that leaves the old run as it was, and the staging
    folder is removed by :func:`~napari_specktrack.safety.clean_stale` at the next start).
    """

    def __init__(self, target: Path, staged: OutputSet | None, *, replaces: bool) -> None:
        self.target = target
        self._staged = staged
        self.replaces = replaces

    def path(self, name: str) -> Path:
        return self._staged.path(name) if self._staged is not None else self.target / name

    @property
    def committed(self) -> bool:
        return self._staged is None

    def commit(self) -> None:
        if self._staged is not None:
            self._staged.commit()
            self._staged = None

    def abort(self) -> None:
        if self._staged is not None:
            self._staged.abort()
            self._staged = None


def plan_run_folder(run: Path, pairs_dir: Path, *, resume: bool, overwrite: bool) -> RunFolder:
    """Check the run folder against the policy (nothing is created); see the module docstring."""
    if resume and overwrite:
        raise InputError("--resume continues a run and --overwrite replaces it; give one of them")
    if (run / "pairs.json").exists() or run.expanduser().resolve() == pairs_dir.resolve():
        raise OutputError(f"--out {run} is a pair folder (it holds pairs.json); give a new folder "
                          f"for the run")
    if resume:
        if not (run / "checkpoint.pt").is_file():
            raise FileFormatError(f"nothing to resume: {run / 'checkpoint.pt'} does not exist; "
                                  f"start without --resume")
        check_writable(run / "checkpoint.pt")
        clean_stale(run)  # .part files of a run killed while writing
        return RunFolder(run, None, replaces=False)
    staged = OutputSet(run, inputs=[pairs_dir, pairs_dir / "pairs.json"], overwrite=overwrite,
                       hint="--resume to continue it")
    old = sorted(p.name for p in run.iterdir()) if run.is_dir() else []
    if old and not any(name in RUN_FILES for name in old):
        shown = ", ".join(old[:4]) + (" …" if len(old) > 4 else "")
        raise OutputError(f"--out {run} holds files that are not a training run ({shown}); "
                          f"--overwrite replaces only run folders, give a new --out")
    return RunFolder(run, staged, replaces=bool(old))


def _check_index(folder: Path) -> None:
    """Every entry of pairs.json names its pair; the geometry is there (messages name the pair)."""
    from ..io import read_json

    index = read_json(folder / "pairs.json") if (folder / "pairs.json").is_file() else None
    if not isinstance(index, dict):
        return  # read_pairs says what is wrong
    where = folder / "pairs.json"
    if not isinstance(index.get("geometry"), dict):
        raise FileFormatError(f"{where} has no geometry; add the geometry.json of the set-up "
                              f"under \"geometry\" or re-export the pair folder")
    records = index.get("pairs")
    if not isinstance(records, list):
        raise FileFormatError(f"{where}: \"pairs\" must be a list of pair records")
    for i, rec in enumerate(records):
        name = rec.get("name") if isinstance(rec, dict) else None
        if not isinstance(name, str) or not name or "/" in name or "\\" in name:
            raise FileFormatError(f"{where}: pair entry {i} has no valid \"name\" ({rec!r:.80}); "
                                  f"fix the entry or re-export the pair folder")


def open_pairs(pairs_dir: Path) -> PairFolder:
    """Read the pair folder's index (complete entries, a geometry) — no images yet."""
    _check_index(pairs_dir)
    try:
        return read_pairs(pairs_dir)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SpecktrackError):  # already says what is wrong
            raise
        raise FileFormatError(f"{pairs_dir / 'pairs.json'} is incomplete ({type(exc).__name__}: "
                              f"{exc}); re-export the pair folder") from exc


def reference_path(folder: PairFolder, name: str) -> Path:
    """Where a pair's reference crop lies when the pair folder has one (``references/``)."""
    return folder.path / "references" / f"{name}.tif"


def check_pair_images(folder: PairFolder, crop_yx_px: tuple[int, int]) -> list[tuple[int, int]]:
    """Read each pair once: 2-D, finite, one shape, at least the crop; returns the shapes."""
    shapes = []
    h, w = (int(c) for c in crop_yx_px)
    for i, name in enumerate(folder.names):
        inp, tgt = folder.load(i)
        if inp.ndim != 2:
            raise InputError(f"pair {name!r}: the images are {inp.ndim}-D {inp.shape}; pairs are "
                             f"2-D (y, x) images, re-export it")
        for what, img in (("input", inp), ("target", tgt)):
            if not np.isfinite(img).all():
                bad = int(np.size(img) - np.isfinite(img).sum())
                raise InputError(f"pair {name!r}: its {what} has {bad} NaN/inf pixel(s); fix or "
                                 f"remove the pair")
        ref_path = reference_path(folder, name)
        if ref_path.is_file():
            from ..io import read_tiff

            ref = read_tiff(ref_path)
            if ref.shape != inp.shape or not np.isfinite(ref).all():
                raise InputError(f"pair {name!r}: references/{name}.tif {ref.shape} must be a "
                                 f"finite image of the pair's shape {inp.shape}; re-export it")
        if inp.shape[0] < h or inp.shape[1] < w:
            raise InputError(f"--crop {h} {w} is larger than pair {name!r} ({inp.shape[0]}×"
                             f"{inp.shape[1]} px); use a crop of at most its size")
        shapes.append(inp.shape)
    return shapes


def split_pairs(folder: PairFolder) -> tuple[PairFolder, PairFolder | None]:
    """(training pairs, validation pairs or None): records with ``"split": "validation"``."""
    val = [r for r in folder.records if r.get("split") == "validation"]
    if not val:
        return folder, None
    train = [r for r in folder.records if r.get("split") != "validation"]
    if not train:
        raise InputError(f"every pair of {folder.path} is in the validation split; mark some as "
                         f"training pairs")
    return (PairFolder(folder.path, folder.geometry, train, folder.normalisation),
            PairFolder(folder.path, folder.geometry, val, folder.normalisation))
