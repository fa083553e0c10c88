"""The curation dock's registration: the target's shift from the input, measured per frame in
the worker, warned above 1 px, corrected on request (sub-pixel, recorded at export).

A mixin of :class:`~.dock.CurationWidget` (it uses the dock's sources, rows and runner).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...learn.registration import MIN_CORRECTION_PX, needs_warning
from .._workers import notify_warning
from . import jobs

#: frames listed in the registration line
SHOWN_FRAMES = 6


class RegistrationMixin:
    """Measure, correct and clear the targets' shifts (see the module docstring)."""

    def measure_shifts(self, _value: Any = None) -> bool:
        """Measure the target's shift per frame in the worker; warn above 1 px."""
        ready = self._ready()
        if ready is None:
            return False
        cs, frames = ready

        def show(shifts: dict[int, np.ndarray]) -> None:
            self.shifts.update(shifts)
            warning = jobs.shift_warning(shifts)
            if warning:
                notify_warning(f"{self.title}: {warning}")
            self.status.value = f"measured the shift of {len(shifts)} frame(s)"

        return self.start(jobs.measure_job(cs, frames), show, total=len(frames),
                          status="measuring shifts…")

    def correct_shifts(self, _value: Any = None) -> int:
        """Shift each measured frame's target by its shift (≥ 0.1 px); returns how many."""
        if self._busy() or self.cs is None:
            return 0
        done = 0
        for f, s in self.shifts.items():
            if np.abs(s).max() >= MIN_CORRECTION_PX:
                self.cs.set_shift(f, s)
                done += 1
        self._refresh_target()
        self.status.value = f"corrected the target of {done} frame(s) (recorded at export)"
        return done

    def clear_corrections(self, _value: Any = None) -> None:
        if self._busy() or self.cs is None:
            return
        for f in range(self.cs.n_frames):
            self.cs.set_shift(f, None)
        self._refresh_target()

    def _refresh_target(self) -> None:
        self.flag_cache.clear()  # the edge flag depends on the shift
        if self._shown_frame is not None and self.cs is not None:
            self.pair_layers.update_target(self.cs.target_frame(self._shown_frame))
        self._update_labels()

    def _update_registration(self) -> None:
        cs = self.cs
        parts = []
        for f in sorted(self.shifts)[:SHOWN_FRAMES]:
            s = self.shifts[f]
            mark = " ⚠" if needs_warning(s) else ""
            done = " corrected" if cs is not None and cs.shift_of(f) is not None else ""
            parts.append(f"{f}: ({s[0]:+.2f}, {s[1]:+.2f}){mark}{done}")
        more = " …" if len(self.shifts) > SHOWN_FRAMES else ""
        self.rows.registration.value = ("shift (dy, dx) px of frame " + "; ".join(parts) + more
                                        if parts else "no shift measured yet")

