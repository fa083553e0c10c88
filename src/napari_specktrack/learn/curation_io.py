"""From a curation session to a pair folder and back: propose, auto-review, export, reopen.

* :func:`propose` — candidate crops of a session: N random boxes per frame (seeded) or a
  regular grid, or given boxes;
* :func:`auto_review` — the headless review (``specktrack pairs``): per frame, measure the
  target's shift (warn above 1 px, optionally correct it), then accept the crops without an
  excluded flag and reject the others, in one undoable step;
* :func:`export_pairs` — the accepted crops as a pair folder (:mod:`.pairs` format, written
  by :class:`~.pair_writer.PairWriter`: never over an existing set unless ``mode`` says so),
  with a seeded validation split chosen at export for the pairs that have none yet;
* :func:`reopen` — a pair folder as a :class:`~.review.Review` (every pair accepted) to keep
  editing: add, remove, re-crop, and export again with ``mode="update"``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CancelledError, InputError
from .curation import Box, CurationSession
from .pairs import PairFolder, choose_validation, read_pairs
from .registration import MIN_CORRECTION_PX, needs_warning
from .review import Candidate, Review

#: flags that make :func:`auto_review` reject a crop by default ("edge" is only recorded)
DEFAULT_EXCLUDE = ("saturated", "dead", "empty", "no_speckle")
REGISTER_MODES = ("off", "warn", "correct")


def propose(session: CurationSession, frames: Iterable[int] | None = None, *,
            random: int | None = None, grid: bool = False, seed: int = 0,
            boxes: Sequence[Box] = ()) -> list[Candidate]:
    """Pending candidates for ``frames`` (default all): ``random`` boxes per frame drawn from
    (seed, frame), or the regular grid, or the given ``boxes`` on every frame."""
    if (random is not None) + bool(grid) + bool(boxes) != 1:
        raise InputError("choose one way to place crops: --random N or --grid (or given boxes)")
    out = []
    for f in session.frames_of(frames):
        chosen = (session.random_boxes(random, seed=seed, frame=f) if random is not None
                  else session.grid_boxes() if grid else list(boxes))
        seen = set()
        for b in chosen:
            if b not in seen:  # two random draws can coincide
                seen.add(b)
                out.append(Candidate(f, b))
    if not out:
        h, w = session.crop_yx_px
        raise InputError(f"no {h}×{w} px crop fits the {session.shape_yx} px frames")
    return out


@dataclass
class AutoReport:
    """What :func:`auto_review` found: shifts by frame (px), warnings, flags, counts."""

    shifts: dict[int, tuple[float, float]] = field(default_factory=dict)
    corrected: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    flag_counts: Counter = field(default_factory=Counter)
    accepted: int = 0
    rejected: int = 0


def auto_review(session: CurationSession, review: Review, *,
                exclude: Iterable[str] = DEFAULT_EXCLUDE, register: str = "warn",
                progress: Callable[[int, int], None] | None = None,
                cancel: Callable[[], bool] | None = None) -> AutoReport:
    """Review every pending candidate without a person (see module docstring).

    ``register``: "off" (no shift measured), "warn" (measure, warn above
    :data:`~.registration.WARN_SHIFT_PX`), "correct" (also apply every measured shift of
    ≥ :data:`~.registration.MIN_CORRECTION_PX` to that frame's target).
    """
    if register not in REGISTER_MODES:
        raise InputError(f"register must be one of {REGISTER_MODES}, got {register!r}")
    exclude = set(exclude)
    report = AutoReport()
    by_frame: dict[int, list[int]] = {}
    for i, c in enumerate(review.items):
        if c.status == "pending" and c.box is not None:
            by_frame.setdefault(int(c.frame), []).append(i)
    statuses: dict[int, str] = {}
    for k, f in enumerate(sorted(by_frame)):
        if cancel is not None and cancel():
            raise CancelledError(f"review cancelled after {k} of {len(by_frame)} frame(s)")
        if register != "off":
            _register_frame(session, f, register, report)
        for i in by_frame[f]:
            flags = session.flags(f, review.items[i].box)
            report.flag_counts.update(flags)
            statuses[i] = "rejected" if exclude & set(flags) else "accepted"
        if progress is not None:
            progress(k + 1, len(by_frame))
    review.set_statuses(statuses)
    report.accepted = sum(s == "accepted" for s in statuses.values())
    report.rejected = len(statuses) - report.accepted
    return report


def _register_frame(session: CurationSession, frame: int, register: str,
                    report: AutoReport) -> None:
    shift = session.measure_shift(frame)
    report.shifts[frame] = (float(shift[0]), float(shift[1]))
    big = needs_warning(shift)
    if register == "correct" and np.abs(shift).max() >= MIN_CORRECTION_PX:
        session.set_shift(frame, shift)
        report.corrected.append(frame)
    if big:
        done = "corrected" if register == "correct" else "pass --register correct to correct it"
        report.warnings.append(f"frame {frame}: the in-line image is shifted by ({-shift[0]:.2f}, "
                               f"{-shift[1]:.2f}) px (y, x) from the sample; {done}")


@dataclass
class ExportResult:
    """The folder written: the exported pairs' names (kept ones and newly cut ones), and of
    the whole folder (with the pairs an append kept) the total and the validation count."""

    path: Path
    names: list[str]
    n_validation: int
    kept: int
    cut: int
    total: int


def _plan(session: CurationSession | None, review: Review) -> list[tuple[Candidate, bool]]:
    """(candidate, keep its files) for every accepted candidate, in frame order."""
    plan = []
    for c in review.accepted():
        keep = c.from_folder and (session is None or c.frame is None or
                                  _same_shift(c.record.get("shift_yx_px"), session.shift_of(c.frame)))
        if not keep and session is None:
            raise InputError(f"crop {c.pair_name() if c.box else c.name} must be cut from the "
                             f"source stacks, but none are open; open the sources to re-crop or add")
        plan.append((c, keep))
    if not plan:
        raise InputError("no accepted crops to export; accept at least one")
    plan.sort(key=lambda p: (p[0].frame if p[0].frame is not None else -1))
    return plan


def _same_shift(a: Any, b: Any) -> bool:
    a = None if a is None or not np.any(a) else np.asarray(a, float)
    b = None if b is None or not np.any(b) else np.asarray(b, float)
    return (a is None and b is None) or (a is not None and b is not None and np.allclose(a, b))


def export_pairs(session: CurationSession | None, review: Review, out: str | os.PathLike, *,
                 validation_fraction: float = 0.1, seed: int = 0, mode: str = "new",
                 geometry: Any = None, params: dict | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> ExportResult:
    """Write the accepted crops of ``review`` as a pair folder ``out``.

    ``mode``: "new" (refuse an existing result), "overwrite" (replace it whole), "update"
    (``out`` must be a pair folder, e.g. the one reopened: replaced whole by the edited set).
    Pairs of the reopened folder that were not re-cropped (and whose frame's shift is
    unchanged) are linked, not cut again; new crops are cut from ``session``. Pairs without
    a split get one now: ``validation_fraction`` of them (seeded by ``seed``) "validation".
    """
    from ..provenance import make_record
    from .pair_writer import PairWriter

    plan = _plan(session, review)
    geometry = geometry or (session.geometry if session is not None else None) or (
        review.folder.geometry if review.folder is not None else None)
    if geometry is None:
        raise InputError("the pair folder needs the imaging geometry; pass --geometry "
                         "geometry.json (or open a sample that carries one)")
    fresh = [i for i, (c, _keep) in enumerate(plan) if c.split is None]
    held = choose_validation(len(fresh), validation_fraction, seed)
    splits = {i: ("validation" if h else "train") for i, h in zip(fresh, held, strict=True)}
    inputs = dict(session.inputs) if session is not None else {}
    record = make_record("pairs", {"validation_fraction": validation_fraction, "seed": seed,
                                   "mode": mode, **(params or {})}, inputs, geometry)
    files = [v["path"] for v in inputs.values() if isinstance(v, dict) and "path" in v]
    units = session.units if session is not None else review.folder.index.get("units", "flat-field")
    names, kept = [], 0
    with PairWriter(out, geometry, mode=mode, inputs=files, provenance=record,
                    units=units) as writer:
        for k, (c, keep) in enumerate(plan):
            if cancel is not None and cancel():
                raise CancelledError(f"export cancelled after {k} of {len(plan)} pair(s); "
                                     f"nothing was written")
            split = c.split or splits[k]
            if keep:
                rec = writer.keep(c.name, review.folder, split=split)
                kept += 1
            else:
                rec = _cut(session, writer, c, split)
            names.append(rec["name"])
            if progress is not None:
                progress(k + 1, len(plan))
    n_val = sum(r["split"] == "validation" for r in writer.index["pairs"])
    return ExportResult(Path(out), names, n_val, kept, len(plan) - kept, len(writer.index["pairs"]))


def _cut(session: CurationSession, writer: Any, c: Candidate, split: str) -> dict:
    inp, tgt, ref = session.crop(c.frame, c.box)
    shift = session.shift_of(c.frame)
    measured = session.measured(c.frame)
    rec = {"name": c.pair_name(), "source": session.source(c.frame), "frame": int(c.frame),
           "crop_yx_px": c.box.as_list(), "shift_yx_px": list(shift) if shift else None,
           "measured_shift_yx_px": None if measured is None else [float(v) for v in measured],
           "split": split, "flags": list(session.flags(c.frame, c.box)),
           "target": "in-line image"}
    return writer.add(inp, tgt, rec, reference=ref)


def reopen(folder: str | os.PathLike | PairFolder, session: CurationSession | None = None
           ) -> Review:
    """A pair folder as a review to keep editing: every pair accepted, in the folder's order.

    With ``session`` (the sources, to re-crop and add): its sample must be the one the pairs
    were cut from (same SHA-256 when both are files), and the recorded target shifts are set
    on its frames.
    """
    pf = folder if isinstance(folder, PairFolder) else read_pairs(folder)
    if session is not None:
        _check_same_sources(pf, session)
    items = []
    for rec in pf.records:
        crop = rec["crop_yx_px"]
        items.append(Candidate(rec["frame"], Box(*crop) if crop is not None else None,
                               "accepted", rec["name"], rec["split"], rec))
        if session is not None and rec["frame"] is not None and rec["shift_yx_px"] is not None \
                and session.shift_of(rec["frame"]) is None:
            session.set_shift(rec["frame"], rec["shift_yx_px"])
    return Review(items, folder=pf)


def _check_same_sources(pf: PairFolder, session: CurationSession) -> None:
    have = session.inputs.get("sample", {}).get("sha256")
    for rec in pf.records:
        if rec["frame"] is not None and rec["frame"] >= session.n_frames:
            raise InputError(f"pair {rec['name']!r} was cut from frame {rec['frame']}, but the "
                             f"open sample has {session.n_frames} frame(s); open its sources")
        was = (rec["source"].get("sample") or {}).get("sha256") if rec["source"] else None
        if have and was and have != was:
            path = rec["source"]["sample"].get("path")
            raise InputError(f"pair {rec['name']!r} was cut from another sample ({path}, "
                             f"sha256 {was[:12]}…); open that sample to edit {pf.path}")
