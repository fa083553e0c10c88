"""Progress within a frame: the command line's bar moves band by band through a large frame.

Tracking (:func:`~napari_specktrack.retrieval.tracking.track`) checks its ``cancel`` hook once
per band of rows; :class:`Ticker` turns that hook into progress between the frame's start and
end, with the number of bands estimated by :func:`tracking_bands` (an estimate: progress stops
short of the frame's end until the frame is done).
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None] | None
Cancel = Callable[[], bool] | None


def tracking_bands(shape_yx: tuple[int, int], window_px: int, search_px: int) -> int:
    """How many bands of rows tracking one frame takes on the CPU: the default ``band_rows`` of
    :func:`~napari_specktrack.retrieval.tracking.track`."""
    from ..retrieval.zncc import default_band_rows

    ny, nx = shape_yx
    return max(1, -(-ny // default_band_rows(nx, window_px, search_px, ny=ny)))


class Ticker:
    """Progress that only rises; :meth:`band` makes the ``cancel`` hook of one frame's tracking
    (checked once per band of rows) move progress from ``start`` towards ``stop`` band by band."""

    def __init__(self, progress: Progress, total: int, bands: int | None) -> None:
        self.progress, self.total, self.bands, self.done = progress, total, bands, -1

    def report(self, done: int) -> None:
        """``progress(done, total)`` when ``done`` is more than reported so far."""
        if self.progress is not None and done > self.done:
            self.done = done
            self.progress(done, self.total)

    def band(self, start: int, stop: int, cancel: Cancel) -> Cancel:
        if self.bands is None or self.progress is None:
            return cancel
        calls = [0]

        def tick() -> bool:
            # stops short of ``stop``: the number of bands is an estimate, the frame's end is not
            self.report(min(stop - 1, start + (stop - start) * calls[0] // (self.bands + 1)))
            calls[0] += 1
            return bool(cancel is not None and cancel())

        return tick
