"""The Pair curation dock: measured training pairs cut by hand (or by N random / grid boxes),
reviewed with the keyboard, registered, exported to a pair folder and reopened to edit.

The sources are the Acquisition dock's roles (reference, sample stack, in-line stack — frame
i ↔ frame i — and optional dark / flat) in a :class:`~napari_specktrack.learn.curation.
CurationSession`; the review state is a :class:`~napari_specktrack.learn.review.Review`
(every change undoable). Input and target of the shown frame are two linked layers side by
side with one crop box (:mod:`.layers`); dragging the box and pressing *a* / *r* accepts /
rejects a new crop there, and *a* / *r* on a proposed crop accept / reject it (:mod:`.keys`).
Auto review (the Run button), registration and export run in the dock's worker
(:mod:`.jobs`) with a progress bar and Cancel; while one runs the dock refuses edits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtCore import QTimer

from ...errors import InputError, SpecktrackError
from ...learn.curation import Box, CurationSession
from ...learn.curation_io import DEFAULT_EXCLUDE, propose
from ...learn.review import Review
from .._base import DockBase
from .._layers import layer_scale
from .._session import current_assignment
from .._workers import notify_info, notify_warning
from . import jobs
from .exporting import ExportMixin, confirm
from .keys import ReviewKeys
from .layers import PairLayers
from .panels import FRAME_SCOPES, build_rows
from .registering import RegistrationMixin


class CurationWidget(RegistrationMixin, ExportMixin, DockBase):
    """Cut, review, register and export training pairs (see the module docstring).

    State: :attr:`cs` (the sources, or None), :attr:`review`, :attr:`draft` (the crop box
    where the rectangle is, pixels of the frame), :attr:`shifts` (measured per frame, px).
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "pair curation", run_text="Auto-review pending",
                         scope=False, device=False, status_lines=2)
        self.rows = build_rows(self)
        self.finish_layout()
        self.run_button.tooltip = ("accept the pending crops without a flag of " +
                                   ", ".join(DEFAULT_EXCLUDE) + " and reject the others (undoable)")
        self.cs: CurationSession | None = None
        self.review = Review()
        self.draft: Box | None = None
        self.shifts: dict[int, np.ndarray] = {}
        self.flag_cache: dict[tuple, tuple[str, ...]] = {}
        self.pair_layers = PairLayers(napari_viewer, self._on_moved)
        self.keys = ReviewKeys(self.native, self.act,
                               lambda: [self.viewer, *self.pair_layers.layers()])
        self._shown_frame: int | None = None
        self._connect()
        self._set_review(self.review)

    def _connect(self) -> None:
        r, b = self.rows, self.rows.buttons
        r.use_sources.changed.connect(self.use_sources)
        r.frame.changed.connect(self._on_frame)
        r.propose.changed.connect(self.propose)
        for name in ("previous", "accept", "reject", "next", "undo"):
            b[name].changed.connect(lambda _v=None, n=name: self.act(n))
        b["add"].changed.connect(self.add_crop)
        b["recrop"].changed.connect(self.recrop)
        b["remove"].changed.connect(self.remove)
        b["measure"].changed.connect(self.measure_shifts)
        b["correct"].changed.connect(self.correct_shifts)
        b["clear"].changed.connect(self.clear_corrections)
        b["export"].changed.connect(lambda _v=None: self.export())
        b["reopen"].changed.connect(lambda _v=None: self.reopen())
        self.runner.done.connect(self._after_job)

    def confirm(self, title: str, text: str) -> bool:
        return confirm(self.native, title, text)

    # --- sources ---------------------------------------------------------------------------------
    def use_sources(self, _value: Any = None) -> bool:
        """Take the Acquisition dock's roles as the sources; show frame 0 (or the current
        crop's frame)."""
        if self._busy():
            return False
        r = self.rows
        try:
            a = current_assignment(self.viewer)
            if a.inline is None:
                raise InputError("curation needs the in-line stack (the targets): assign it in "
                                 "the Acquisition dock, matching the sample frame for frame")
            cs = CurationSession(a.frames(), crop_yx_px=(r.crop_h.value, r.crop_w.value),
                                 multiple=int(r.multiple.value), inputs=a.inputs(),
                                 geometry=a.geometry)
        except SpecktrackError as exc:
            return self.fail(exc)
        size = (cs.crop_yx_px[0], cs.crop_yx_px[1])
        stale = [c for c in self.review.items if c.box is not None and (c.box.h, c.box.w) != size]
        if stale and not self.confirm("Discard the crops?", f"{len(stale)} crop(s) have another "
                                      f"size than {size[0]}×{size[1]} px; discard the review?"):
            return False
        if stale:
            self._set_review(Review())
        self.cs, self.shifts, self.flag_cache = cs, {}, {}
        self._recorded_shifts(cs)
        self.scale = layer_scale(a.geometry, 2)
        r.frame.max = cs.n_frames - 1
        r.sources.value = f"{a.describe()}; {cs.units}"
        current = self.review.current
        self.draft = current.box if current is not None and current.box else cs.clamp_box(0, 0)
        self._show_frame(current.frame if current is not None and current.frame is not None
                         else int(r.frame.value), force=True)
        self.keys.enable()
        self.status.value = (f"drag the box and press a (accept) or r (reject), or propose "
                             f"{'N random' if r.placement.value == 'random' else 'grid'} crops")
        return True

    def _recorded_shifts(self, cs: CurationSession) -> None:
        """Set the shifts a reopened set records on the new sources (as ``reopen`` does), so
        that its pairs are kept at export instead of cut again uncorrected."""
        for c in self.review.items:
            shift = (c.record or {}).get("shift_yx_px")
            if shift is not None and c.frame is not None and c.frame < cs.n_frames \
                    and cs.shift_of(c.frame) is None:
                cs.set_shift(c.frame, shift)

    def _need_sources(self) -> CurationSession:
        if self.cs is None:
            raise InputError("no sources yet: press 'Use the Acquisition roles' first")
        return self.cs

    def _busy(self) -> bool:
        if self.runner.running:
            notify_info(f"{self.title}: a job is running; wait or press Cancel")
            return True
        return False

    def _scope(self) -> list[int]:
        cs = self._need_sources()
        if self.rows.frames.value == FRAME_SCOPES[1]:
            return list(range(cs.n_frames))
        return [int(self.rows.frame.value)]

    # --- showing -----------------------------------------------------------------------------------
    def _on_frame(self, value: int) -> None:
        if self.cs is not None and not self.runner.running:
            self._show_frame(int(value))

    def _show_frame(self, frame: int, *, force: bool = False) -> None:
        cs = self.cs
        if cs is None:
            return
        frame = int(np.clip(frame, 0, cs.n_frames - 1))
        if self.rows.frame.value != frame:
            self.rows.frame.value = frame  # emits _on_frame → here once more, then returns
            return
        if force or frame != self._shown_frame:
            meta = {"geometry": cs.geometry.to_dict() if cs.geometry else None, "frame": frame,
                    "units": cs.units}
            self.pair_layers.show_images(cs.input_frame(frame), cs.target_frame(frame),
                                         scale=self.scale, metadata=meta)
            self._shown_frame = frame
            self.keys.rebind()  # the layers may be new
        if self.draft is not None:
            self.pair_layers.set_box(self.draft)
        self._update_labels()

    def _on_moved(self, y0: float, x0: float) -> None:
        if self.cs is None:
            return
        self.draft = self.cs.clamp_box(y0, x0)
        QTimer.singleShot(0, lambda: self.pair_layers.set_box(self.draft))  # after the drag ends
        self._update_labels()

    def _flags(self, frame: int, box: Box) -> tuple[str, ...] | None:
        key = (frame, box)
        if key not in self.flag_cache:
            if self.cs is None or self.runner.running:
                return None
            self.flag_cache[key] = self.cs.flags(frame, box)
        return self.flag_cache[key]

    def _crop_text(self, frame: int, box: Box) -> str:
        flags = self._flags(frame, box)
        what = "…" if flags is None else (", ".join(flags) or "none")
        return f"frame {frame} at y0 {box.y0}, x0 {box.x0} px; flags: {what}"

    def _update_labels(self) -> None:
        r, rv = self.rows, self.review
        a, rej, rem = rv.counts()
        r.counter.value = f"accepted {a} · rejected {rej} · remaining {rem} (of {len(rv)})"
        lines = []
        c = rv.current
        if c is not None:
            where = self._crop_text(c.frame, c.box) if c.box is not None and c.frame is not None \
                else f"pair {c.name!r} (whole frame)"
            lines.append(f"crop {rv.index + 1}/{len(rv)} ({c.status}): {where}")
        if self.draft is not None and self._draft_is_new():
            lines.append(f"new box: {self._crop_text(int(r.frame.value), self.draft)} — a / r "
                         f"accept / reject it, 'add' adds it pending")
        r.current.value = "\n".join(lines) or "no crop yet"
        if self.cs is not None:
            frame = int(r.frame.value)
            crops = [(k, c.box, c.status, " ".join(self.flag_cache.get(c.key, ())))
                     for k, c in enumerate(rv.items) if c.frame == frame and c.box is not None]
            self.pair_layers.show_crops(crops)
        self._update_registration()

    def _draft_is_new(self) -> bool:
        c = self.review.current
        return self.draft is not None and (c is None or c.key != (int(self.rows.frame.value),
                                                                   self.draft))

    # --- the review ----------------------------------------------------------------------------------
    def _set_review(self, review: Review) -> None:
        self.review = review
        review.subscribe(self._on_review)
        self._on_review(review)

    def _on_review(self, review: Review) -> None:
        if review is not self.review:
            return
        c = review.current
        if c is not None and c.box is not None and c.frame is not None and self.cs is not None:
            self.draft = c.box
            self._show_frame(c.frame)
        self._update_labels()

    def act(self, action: str) -> Any:
        """A review action by name (accept, reject, next, previous, undo, redo); accept /
        reject of a box that is no crop yet adds it with that status (one undoable step)."""
        if self._busy():
            return None
        try:
            if action in ("accept", "reject") and self.cs is not None and self._draft_is_new():
                key = (int(self.rows.frame.value), self.draft)
                there = next((i for i, c in enumerate(self.review.items) if c.key == key), None)
                if there is None:
                    status = "accepted" if action == "accept" else "rejected"
                    return self.review.add(key[0], self.draft, status)
                self.review.go(there)
            return self.review.act(action)
        except SpecktrackError as exc:
            return self.fail(exc)

    def add_crop(self, _value: Any = None) -> bool:
        """Add the box as a pending crop."""
        return self._edit(lambda: (self._need_sources(),
                                   self.review.add(int(self.rows.frame.value), self.draft)))

    def recrop(self, _value: Any = None) -> bool:
        """Move the current crop to the box (on its own frame)."""
        def recrop() -> None:
            self._need_sources()
            c = self.review.current
            if c is None:
                raise InputError("no crop to re-crop; add or propose one first")
            if c.frame != int(self.rows.frame.value):
                raise InputError(f"the current crop is on frame {c.frame}; show that frame to "
                                 f"re-crop it")
            self.review.recrop(self.draft)

        return self._edit(recrop)

    def remove(self, _value: Any = None) -> bool:
        return self._edit(self.review.remove)

    def _edit(self, change: Any) -> bool:
        """Run ``change()`` unless a job runs; a user error becomes a notification."""
        if self._busy():
            return False
        try:
            change()
        except SpecktrackError as exc:
            return self.fail(exc)
        return True

    def _ready(self) -> tuple[CurationSession, list[int]] | None:
        """(sources, frames of the scope) for a job, or None after saying why not."""
        if self._busy():
            return None
        try:
            return self._need_sources(), self._scope()
        except SpecktrackError as exc:
            self.fail(exc)
            return None

    def propose(self, _value: Any = None) -> bool:
        """Add N random or grid crops (pending) on the chosen frames."""
        if self._busy():
            return False
        r = self.rows
        try:
            cs = self._need_sources()
            grid = r.placement.value == "grid"
            new = propose(cs, self._scope(), random=None if grid else int(r.n_random.value),
                          grid=grid, seed=int(r.seed.value))
        except SpecktrackError as exc:
            return self.fail(exc)
        have = {c.key for c in self.review.items}
        fresh = [c for c in new if c.key not in have]
        review = Review([*self.review.items, *fresh], folder=self.review.folder)
        review.index = len(self.review.items) if fresh else self.review.index
        self._set_review(review)
        self.status.value = f"proposed {len(fresh)} crop(s); review them or auto-review"
        return True

    def run(self) -> bool:
        """Auto review: flag the pending crops of the chosen frames, accept the clean ones."""
        ready = self._ready()
        if ready is None:
            return False
        cs, frames = ready
        job = jobs.auto_review_job(cs, self.review, frames, DEFAULT_EXCLUDE)
        return self.start(job, self._show_auto, total=len(frames), status="reviewing…")

    def _show_auto(self, result: jobs.AutoResult) -> None:
        self.flag_cache.update(result.flags)
        report = result.report
        self.shifts.update({f: np.asarray(s) for f, s in report.shifts.items()})
        positions = {c.key: i for i, c in enumerate(self.review.items)}
        self.review.set_statuses({positions[k]: s for k, s in result.statuses.items()
                                  if k in positions})
        flagged = ", ".join(f"{k} {v}" for k, v in sorted(report.flag_counts.items())) or "none"
        self.status.value = (f"auto review: {report.accepted} accepted, {report.rejected} "
                             f"rejected (flags: {flagged}); undo reverts it")
        warning = jobs.shift_warning(self.shifts)
        if warning:
            notify_warning(f"{self.title}: {warning}")

    def _after_job(self, _outcome: Any) -> None:
        if self.cs is not None:
            self._show_frame(int(self.rows.frame.value), force=True)
