"""Checks a training run makes before it creates anything: the run folder and the pairs.

* :func:`plan_run_folder` — the never-overwrite policy of :mod:`napari_specktrack.safety`
  for a run folder: a non-empty one is refused (naming ``--resume`` and ``--overwrite``);
  with ``overwrite`` the new run is written in a staging folder beside the old one and
  swapped in whole when it writes its first checkpoint (see :class:`RunFolder`); a folder
  that is a pair folder, or holds files that are not a run's, is never replaced.
* :func:`open_pairs`, :func:`check_crop` — the pair folder checked up front (by
  :func:`~.pairs.read_pairs`: from the TIFF headers, values memory-mapped) and at least as
  large as the crop.
* :func:`split_pairs` — training and validation pairs (``"split": "validation"``).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import FileFormatError, InputError, OutputError
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


def open_pairs(pairs_dir: Path) -> PairFolder:
    """The pair folder, checked completely by :func:`~.pairs.read_pairs` (index, names,
    geometry, every image present, 2-D, of its recorded shape and finite)."""
    return read_pairs(pairs_dir)


def pair_shapes(folder: PairFolder) -> list[tuple[int, int]]:
    """(y, x) pixels of each pair: the recorded shapes (a version-1 record without one is read)."""
    return [tuple(rec["shape"]) if rec.get("shape") else folder.load(i)[0].shape
            for i, rec in enumerate(folder.records)]


def check_crop(folder: PairFolder, shapes: list[tuple[int, int]], crop_yx_px,
               multiple: int = 1) -> None:
    """Every pair can give a training crop: it holds the crop (h ≤ its height, w ≤ its
    width), or, where it is smaller, its sides are multiples of ``multiple`` px (the
    generator's 2^n_downsampling) so that it is used whole (a folder of frames of several
    sizes, e.g. 128² frames beside 512² ones under a 256² crop)."""
    h, w = (int(c) for c in crop_yx_px)
    m = max(1, int(multiple))
    for name, (ny, nx) in zip(folder.names, shapes, strict=True):
        if (ny < h or nx < w) and (ny % m or nx % m):
            raise InputError(f"--crop {h} {w} is larger than pair {name!r} ({ny}×{nx} px), whose "
                             f"sides are not multiples of {m} px so it cannot be used whole; use a "
                             f"crop of at most its size, or pairs of sides that are multiples of {m}")


def split_pairs(folder: PairFolder) -> tuple[PairFolder, PairFolder | None]:
    """(training pairs, validation pairs or None): the records' ``"split"``."""
    validation = folder.subset("validation")
    if not len(validation):
        return folder, None
    training = folder.subset("train")
    if not len(training):
        raise InputError(f"every pair of {folder.path} is in the validation split; mark some as "
                         f"training pairs")
    return training, validation
