"""The curation dock's long jobs, as ``job(progress, cancel)`` functions for the worker.

They touch no Qt, no napari and never the dock's :class:`~napari_specktrack.learn.review.
Review` (whose listeners redraw the dock): auto review runs on a copy of the candidates and
returns their statuses, which the dock sets on the main thread in one undoable step. The
:class:`~napari_specktrack.learn.curation.CurationSession` is used by the worker alone while
a job runs: the dock refuses navigation and edits until it is done (or cancelled).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CancelledError
from ...learn.curation import CurationSession
from ...learn.curation_io import AutoReport, auto_review, export_pairs, reopen
from ...learn.registration import needs_warning
from ...learn.review import Review

Job = Callable[[Callable[[int, int], None], Callable[[], bool]], Any]


def measure_job(cs: CurationSession, frames: Sequence[int]) -> Job:
    """Measure the target shift (dy, dx) pixels of each frame → {frame: shift}."""
    frames = list(frames)

    def job(progress: Any, cancel: Any) -> dict[int, np.ndarray]:
        shifts = {}
        for k, f in enumerate(frames):
            if cancel():
                raise CancelledError(f"registration cancelled after {k} of {len(frames)} frame(s)")
            shifts[f] = cs.measure_shift(f)
            progress(k + 1, len(frames))
        return shifts

    return job


def shift_warning(shifts: dict[int, np.ndarray]) -> str | None:
    """The warning for frames whose target is shifted by more than 1 px, or None."""
    big = {f: s for f, s in shifts.items() if needs_warning(s)}
    if not big:
        return None
    worst = max(float(np.abs(s).max()) for s in big.values())
    frames = ", ".join(str(f) for f in sorted(big)[:8]) + (" …" if len(big) > 8 else "")
    return (f"mis-registration: the in-line image of frame(s) {frames} is shifted by up to "
            f"{worst:.2f} px from the sample; press 'Correct shifts' to move the targets "
            f"(sub-pixel, recorded in pairs.json)")


@dataclass
class AutoResult:
    """Statuses by candidate key, the flags found, and the registration report."""

    statuses: dict[tuple, str] = field(default_factory=dict)
    flags: dict[tuple, tuple[str, ...]] = field(default_factory=dict)
    report: AutoReport | None = None


def auto_review_job(cs: CurationSession, review: Review, frames: Sequence[int],
                    exclude: Sequence[str]) -> Job:
    """Flag and accept / reject the pending candidates of ``frames`` on a copy of them."""
    wanted = set(frames)
    pending = [c for c in review.items if c.status == "pending" and c.box is not None
               and c.frame in wanted]

    def job(progress: Any, cancel: Any) -> AutoResult:
        scratch = Review(pending)
        report = auto_review(cs, scratch, exclude=exclude, register="warn", progress=progress,
                             cancel=cancel)
        out = AutoResult(report=report)
        for c in scratch.items:
            out.statuses[c.key] = c.status
            out.flags[c.key] = cs.flags(c.frame, c.box)
        return out

    return job


def export_job(cs: CurationSession | None, review: Review, out: Path, *, mode: str,
               validation_fraction: float, seed: int, params: dict) -> Job:
    """Write the accepted crops to the pair folder ``out`` (see ``export_pairs``)."""
    def job(progress: Any, cancel: Any) -> Any:
        return export_pairs(cs, review, out, validation_fraction=validation_fraction, seed=seed,
                            mode=mode, params=params, progress=progress, cancel=cancel)

    return job


def reopen_job(folder: Path, cs: CurationSession | None) -> Job:
    """Read and check a pair folder → a :class:`Review` of its pairs (all accepted)."""
    def job(progress: Any, cancel: Any) -> Review:
        return reopen(folder, cs)

    return job
