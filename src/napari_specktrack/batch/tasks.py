"""What a batch worker runs: frames of one :class:`BatchJob` into the store, one at a time.

A task gets the job (paths, parameters — never pixels) and a list of frame indices. Each
worker process prepares the run once — reads and averages the reference, dark and flat,
loads the generator — and keeps it for every later task of the same job
(:func:`prepared`), so the weights are loaded once per worker. A frame that is bad (NaN, wrong
shape, unreadable, no speckle) is reported by index and the task goes on with the next one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..errors import SpecktrackError
from ..geometry import Geometry
from ..pipeline import Frames, RetrievalParams
from .sources import FrameSequence, LazyStack

_PLANS: dict[str, Any] = {}


@dataclass(frozen=True)
class BatchJob:
    """One batch run, as every worker sees it (picklable; paths and parameters only).

    Attributes
    ----------
    sample, inline
        The sample frames and the measured in-line frames (or None).
    reference, dark, flat, background, regions
        Image files (stacks averaged), or None for the optional ones (``regions``: the fusion's
        material labels, ``params.fusion_region_materials``).
    geometry
        The geometry.json mapping.
    params
        The resolved :class:`RetrievalParams` (window and search filled in).
    out
        The zarr store.
    threads
        torch threads per worker.
    """

    sample: FrameSequence
    reference: str
    params: RetrievalParams
    geometry: dict[str, float]
    out: str
    inline: FrameSequence | None = None
    dark: str | None = None
    flat: str | None = None
    background: str | None = None
    threads: int = 1
    regions: str | None = None

    @property
    def cache_key(self) -> str:
        text = json.dumps([self.reference, self.dark, self.flat, self.background, self.regions,
                           self.geometry,
                           self.params.to_dict(), self.sample.describe()], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def frames(self) -> Frames:
        """The run's :class:`Frames`, reading the sample (and in-line) frames lazily."""
        from ..pipeline.files import read_image

        return Frames(LazyStack(self.sample), read_image(self.reference),
                      inline=None if self.inline is None else LazyStack(self.inline),
                      dark=None if self.dark is None else read_image(self.dark),
                      flat=None if self.flat is None else read_image(self.flat))


def prepared(job: BatchJob) -> Any:
    """The worker's :class:`~napari_specktrack.pipeline.Plan` for ``job`` (made once)."""
    plan = _PLANS.get(job.cache_key)
    if plan is None:
        import torch

        from ..io import read_tiff
        from ..pipeline import prepare

        torch.set_num_threads(max(1, int(job.threads)))
        background = None if job.background is None else read_tiff(job.background) != 0
        regions = None if job.regions is None else read_tiff(job.regions)
        plan = prepare(job.frames(), Geometry.from_dict(job.geometry), job.params,
                       background=background, probe_samples=False, regions=regions)
        _PLANS.clear()  # one job per worker at a time: free the previous one's generator
        _PLANS[job.cache_key] = plan
    return plan


def process_frames(job: BatchJob, indices: list[int]) -> list[tuple[int, str]]:
    """Retrieve ``indices`` into the store; returns ``(frame, message)`` for each bad frame."""
    import zarr

    from .store import write_frame

    plan = prepared(job)
    group = zarr.open_group(job.out, mode="r+")
    generating = plan.params.inline_kind == "generated"
    bad: list[tuple[int, str]] = []
    for i in indices:
        try:
            sample, inline = plan.frames.checked_frame(i)
            if generating:
                inline = plan.generate([i], [sample])[0]
            elif plan.params.inline_kind == "none":
                inline = None
            arrays, _stats = plan.process(sample, inline)
            write_frame(group, i, arrays)
        except SpecktrackError as exc:
            bad.append((i, str(exc)))
    return bad
