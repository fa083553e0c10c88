"""Writing a pair folder whole, by the one output policy (:mod:`napari_specktrack.safety`).

:class:`PairWriter` plans an :class:`~napari_specktrack.safety.OutputSet` before anything is
computed, stages every file of the new set beside the old one and swaps it in on
:meth:`PairWriter.commit`. The mode says what happens to an existing folder:

``"new"``        refuse an existing result (the message names ``--overwrite``);
``"overwrite"``  replace it whole with exactly the pairs written now;
``"append"``     keep every pair it holds and add the new ones (same geometry; new names);
``"update"``     the folder must be a pair folder; keep only the pairs passed to :meth:`keep`
                 (edited records allowed: split, flags) and add new ones — re-exporting an
                 edited set.

Kept pairs are hard-linked from the old folder into the staged one (copied where links are
not possible), so appending to a large set costs no copy and the old set stays intact until
the swap. Names are checked (:func:`~.pairs.check_name`): a name can never leave the folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OutputError
from ..geometry import Geometry
from ..safety import OutputSet
from .pair_format import FORMAT, KINDS, VERSION, check_name, image_path
from .pairs import PairFolder, read_pairs

MODES = ("new", "overwrite", "append", "update")
_RECORD_KEYS = ("source", "frame", "crop_yx_px", "shift_yx_px", "split", "flags", "target")


class PairWriter:
    """One pair folder written whole (see the module docstring).

    Parameters
    ----------
    out_dir
        The pair folder.
    geometry
        Imaging geometry of every pair (appending needs the folder's geometry).
    mode
        "new", "overwrite", "append" or "update".
    inputs
        Files the pairs are cut from: never written, never inside a folder being replaced.
    normalisation, units, provenance
        Index entries (``units`` of the images, the provenance record of this export).
    """

    def __init__(self, out_dir: str | os.PathLike, geometry: Geometry, *, mode: str = "new",
                 inputs: Iterable[Any] = (), normalisation: dict | None = None,
                 units: str = "flat-field", provenance: dict | None = None,
                 flag: str = "--out") -> None:
        if mode not in MODES:
            raise InputError(f"pair folder mode must be one of {MODES}, got {mode!r}")
        self.out = Path(out_dir)
        self.geometry = geometry
        self.mode = mode
        self.old: PairFolder | None = None
        if mode in ("append", "update") and (self.out / "pairs.json").exists():
            self.old = read_pairs(self.out, check_values=False)
            if self.old.geometry.to_dict() != geometry.to_dict():
                raise InputError(f"{self.out} holds pairs of another geometry "
                                 f"({self.old.geometry.to_dict()}); write these to a new folder")
        elif mode == "update":
            raise OutputError(f"{flag} {self.out} is not a pair folder to update; export to a "
                              f"new folder instead")
        elif mode == "append" and self.out.is_dir() and any(self.out.iterdir()):
            raise OutputError(f"{flag} {self.out} holds files but no pair folder; choose an "
                              f"empty or new folder to append to")
        # replacing a set whole must not delete what is not part of it (notes, a data folder):
        # one rule for every command (safety.OutputSet ``known``)
        known = ("inputs", "targets", "references", "pairs.json") if mode == "overwrite" else None
        self.outputs = OutputSet(self.out, inputs=inputs, overwrite=mode != "new", flag=flag,
                                 hint="--append to add pairs to it", known=known)
        self.index = {"format": FORMAT, "version": VERSION, "geometry": geometry.to_dict(),
                      "normalisation": normalisation if normalisation is not None else (
                          self.old.normalisation if self.old is not None else None),
                      "units": units, "provenance": provenance, "pairs": []}
        self._names: set[str] = set()
        if mode == "append" and self.old is not None:
            for rec in self.old.records:
                self.keep(rec["name"])
        if self.old is not None:
            self._keep_other_files()

    @property
    def names(self) -> list[str]:
        """The names of the pairs in the new set so far."""
        return [r["name"] for r in self.index["pairs"]]

    def _claim(self, name: Any) -> str:
        name = check_name(name)
        if name in self._names:
            raise InputError(f"pair name {name!r} already exists in {self.out}; names must be "
                             f"unique (another --seed, or remove the old pair first)")
        self._names.add(name)
        return name

    def keep(self, name: str, source: PairFolder | None = None, **changes: Any) -> dict:
        """Take pair ``name`` of ``source`` (default: the folder being appended or updated)
        into the new set, its files linked; ``changes`` edit its record (e.g. ``split``)."""
        folder = source if source is not None else self.old
        if folder is None:
            raise InputError(f"there is no pair folder to keep {name!r} from")
        rec = dict(folder.records[folder.position(name)])
        unknown = set(changes) - set(_RECORD_KEYS)
        if unknown:
            raise InputError(f"cannot change {sorted(unknown)} of a kept pair")
        rec.update(changes)
        self._claim(rec["name"])
        kinds = ["input", "target"] + (["reference"] if rec["reference"] else [])
        for kind in kinds:
            _link(image_path(folder.path, kind, name), self._staged(kind, name))
        self.index["pairs"].append(rec)
        return rec

    def add(self, inp: np.ndarray, target: np.ndarray, record: dict, *,
            reference: np.ndarray | None = None) -> dict:
        """Write one new pair; ``record`` gives its name (default ``pair_NNNNN``) and the
        record keys of the format (see :mod:`.pairs`). Returns the stored record."""
        from ..io import write_tiff

        arrays = {"input": np.asarray(inp, np.float32), "target": np.asarray(target, np.float32)}
        if reference is not None:
            arrays["reference"] = np.asarray(reference, np.float32)
        name = record.get("name") or f"pair_{len(self.index['pairs']):05d}"
        shapes = {k: a.shape for k, a in arrays.items()}
        if any(len(s) != 2 for s in shapes.values()) or len(set(shapes.values())) != 1:
            raise InputError(f"pair {name!r}: {shapes} must be 2-D images of one shape")
        for kind, a in arrays.items():
            if not np.isfinite(a).all():
                raise InputError(f"pair {name!r}: its {kind} contains NaN/inf; fix the images "
                                 f"(or reject the crop) first")
        if record.get("split", "train") not in ("train", "validation"):
            raise InputError(f"pair {name!r}: split must be 'train' or 'validation'")
        name = self._claim(name)
        for kind, a in arrays.items():
            write_tiff(self._staged(kind, name), a)
        rec = {"name": name, "source": record.get("source", {}), "frame": record.get("frame"),
               "crop_yx_px": record.get("crop_yx_px"), "shape": list(arrays["input"].shape),
               "shift_yx_px": record.get("shift_yx_px"), "split": record.get("split", "train"),
               "flags": list(record.get("flags", [])), "reference": reference is not None,
               "target": record.get("target", "in-line image"),
               **{k: v for k, v in record.items() if k not in (*_RECORD_KEYS, "name", "shape",
                                                                 "reference")}}
        self.index["pairs"].append(rec)
        return rec

    def _keep_other_files(self) -> None:
        """Files of the folder that are not pairs (notes, a README) stay when pairs are added
        or edited: they are linked into the new set (the swap would drop them otherwise)."""
        ours = {*KINDS.values(), "pairs.json"}
        for entry in sorted(self.old.path.iterdir()):
            if entry.name in ours or entry.name.startswith("."):
                continue
            dst = self.outputs.path(entry.name)
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, dst, copy_function=_link, symlinks=True)
            else:
                _link(entry, dst)

    def _staged(self, kind: str, name: str) -> Path:
        rel = image_path(Path("."), kind, name)
        path = self.outputs.path(str(rel))
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def commit(self) -> Path:
        """Write pairs.json and swap the staged set into place; returns the folder."""
        from ..io import write_json

        if not self.index["pairs"]:
            self.abort()
            raise InputError(f"no pairs to write to {self.out}: accept at least one crop")
        write_json(self.outputs.path("pairs.json"), self.index)
        return self.outputs.commit()

    def abort(self) -> None:
        """Discard the staged set; an old folder stays as it was."""
        self.outputs.abort()

    def __enter__(self) -> PairWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        (self.commit if exc_type is None else self.abort)()


def _link(src: str | Path, dst: str | Path) -> None:
    """Hard-link ``src`` to ``dst`` (files are replaced, never edited in place, so a link is
    safe); copy where the file system cannot link."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)
