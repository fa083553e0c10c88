"""The one pipeline over many frames: dask.distributed workers writing a resumable zarr store.

:func:`plan_batch` checks a run and opens (resumes) or creates its store; :func:`run_batch`
processes the frames still to do on a local cluster, a running scheduler, or in this process
(``workers=0``). See :mod:`.run`, :mod:`.store`, :mod:`.tasks` and :mod:`.sources`.
"""

from .run import BatchPlan, BatchReport, compute_client, plan_batch, run_batch
from .sources import FrameSequence, LazyStack, natural_key, open_frames

__all__ = ["BatchPlan", "BatchReport", "FrameSequence", "LazyStack", "compute_client",
           "natural_key", "open_frames", "plan_batch", "run_batch"]
