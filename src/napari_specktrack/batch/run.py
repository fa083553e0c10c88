"""The batch driver: the one pipeline over many frames, on dask.distributed, into zarr.

:func:`plan_batch` checks everything once (as ``retrieve`` does: parameters, devices, weights,
reference, the first frame; the window and search range are suggested there if not given, so
every worker uses the same) and opens or creates the store (:mod:`.store`). :func:`run_batch`
sends the frames still to do — as indices, with the :class:`~.tasks.BatchJob` of paths — to a
local cluster of processes (``workers``, default one per core), to a running scheduler
(``scheduler="tcp://host:8786"``), or, with ``workers=0``, runs them in this process. The
dask client is created with ``set_as_default=False``: it never becomes napari's (or anyone's)
global default. Progress reports frames done of the total; cancel (or Ctrl-C) stops after the
frames in flight, and the same command later resumes. With ``follow`` it keeps watching the
sample sequence for new frames until cancelled.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import CancelledError, InputError
from ..geometry import Geometry
from ..pipeline import OUTPUT_FIELDS, RetrievalParams
from ..provenance import file_input, make_record
from ..safety import OutputSet
from . import store as st
from .sources import open_frames
from .tasks import BatchJob, prepared, process_frames

Progress = Callable[[int, int], None] | None
Cancel = Callable[[], bool] | None


@dataclass
class BatchPlan:
    """A checked batch run: the job the workers get, the store, and what is left to do."""

    job: BatchJob
    group: Any
    todo: list[int]
    provenance: dict[str, Any]
    outputs: OutputSet | None = None  #: set when an old store is being replaced (staged)


@dataclass
class BatchReport:
    """How a batch run went (frame counts; seconds of wall time)."""

    out: Path
    total: int
    computed: int
    skipped: int
    bad: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def frames_per_s(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else 0.0


def _inputs(job: BatchJob) -> dict[str, Any]:
    found: dict[str, Any] = {"sample": {"sequence": job.sample.describe()},
                             "reference": file_input(job.reference)}
    for role in ("dark", "flat", "background", "regions"):
        if getattr(job, role) is not None:
            found[role] = file_input(getattr(job, role))
    if job.inline is not None:
        found["inline"] = {"sequence": job.inline.describe()}
    return found


def _key(job: BatchJob, inputs: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs the same run (the frame count may grow while following)."""
    same = {k: ({"sequence": {**v["sequence"], "frames": None}} if "sequence" in v else v)
            for k, v in inputs.items()}
    return {"params": job.params.to_dict(), "geometry": job.geometry, "inputs": same}


def plan_batch(sample: str | os.PathLike, reference: str | os.PathLike, params: RetrievalParams,
               geometry: Geometry, out: str | os.PathLike, *, inline: str | None = None,
               dark: str | None = None, flat: str | None = None, background: str | None = None,
               overwrite: bool = False, follow: bool = False, threads: int = 1,
               regions: str | None = None) -> BatchPlan:
    """Check the run and open (resume) or create its store; nothing is retrieved yet."""
    seq = open_frames(sample, allow_empty=follow)
    inl = None if inline is None else open_frames(inline)
    if inl is not None and len(inl) < len(seq):
        raise InputError(f"the in-line sequence has {len(inl)} frames but the sample {len(seq)}; "
                         f"give one in-line frame per sample frame")
    job = BatchJob(seq, str(reference), params, geometry.to_dict(), str(out), inline=inl,
                   dark=dark, flat=flat, background=background, threads=threads, regions=regions)
    if len(seq) == 0:
        raise InputError(f"no frames in {sample} yet; start --follow when the first has landed")
    plan = prepared(job)  # validates inputs, loads the weights, suggests the window
    job = replace(job, params=plan.params)
    inputs = _inputs(job)
    key = _key(job, inputs)
    paths = [p for p in (reference, dark, flat, background, regions) if p is not None]
    prov = make_record("batch", job.params.to_dict(), inputs, geometry, frames=len(seq),
                       suggestion=plan.suggestion)
    target = Path(out)
    outputs = None
    if target.exists() and not overwrite:
        group = st.open_store(target, key=key)
        st.grow(group, len(seq))
    else:
        # a new store is written in place (a killed run resumes it); an old one being replaced
        # is staged beside it and swapped in at the end (OutputSet)
        replacing = target.exists()
        outputs = OutputSet(target, inputs=paths, overwrite=overwrite,
                            known=("zarr.json", ".zgroup", ".zattrs", st.DONE,
                                   *(f.key for f in OUTPUT_FIELDS)))
        path = outputs.folder() if replacing else target
        group = st.create_store(path, len(seq), seq.shape_yx, key=key,
                                attrs={"geometry": geometry.to_dict(), "provenance": prov})
        job = replace(job, out=str(path))
        outputs = outputs if replacing else None
    done = st.done_frames(group)
    return BatchPlan(job, group, [i for i in range(len(seq)) if not done[i]], prov, outputs)


#: environment of the local cluster's worker processes. dask sets MALLOC_TRIM_THRESHOLD_=65536,
#: which also fixes glibc's mmap threshold at 128 kB: every array of a frame is then a fresh
#: mapping, zeroed page by page by the kernel (most of a worker's time went to the system
#: when diagnosed); here arrays up to 32 MB (the most glibc allows) come from the reused heap.
WORKER_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(256 * 2**20)}


@contextmanager
def compute_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A dask.distributed client, never the global default: a scheduler address, or a local
    cluster of ``workers`` single-threaded processes (default: one per core), with the heap
    settings of :data:`WORKER_ENV` and without dask's sampling profiler (every 10 ms it stops
    the task thread to read its stack: 20–25 % of a frame's time here)."""
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler:
        client, cluster = Client(scheduler, set_as_default=False), None
    else:
        n = workers or os.cpu_count() or 1
        # set before the processes start (glibc reads them once): dask's pre-spawn environment
        spawn_env = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **WORKER_ENV}
        with dask.config.set({"distributed.worker.profile.enabled": False,
                              "distributed.nanny.pre-spawn-environ": spawn_env}):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
        client = Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _chunks(todo: list[int], n_workers: int) -> list[list[int]]:
    size = max(1, min(16, len(todo) // max(4 * n_workers, 1)))
    return [todo[i:i + size] for i in range(0, len(todo), size)]


def _run_local(plan: BatchPlan, report: BatchReport, progress: Progress, cancel: Cancel) -> None:
    for i in plan.todo:
        if cancel is not None and cancel():
            raise CancelledError(f"batch cancelled after {report.computed} frame(s); run the same "
                                 f"command again to resume")
        report.bad += process_frames(plan.job, [i])
        report.computed += 1
        if progress is not None:
            progress(report.skipped + report.computed, report.total)


def _run_cluster(plan: BatchPlan, report: BatchReport, client: Any, progress: Progress,
                 cancel: Cancel) -> None:
    from dask.distributed import as_completed

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    chunks = _chunks(plan.todo, n_workers)
    futures = client.map(process_frames, [plan.job] * len(chunks), chunks, pure=False)
    sizes = {f.key: len(c) for f, c in zip(futures, chunks)}
    try:
        for fut in as_completed(futures, loop=client.loop):
            if cancel is not None and cancel():
                raise CancelledError(f"batch cancelled after {report.computed} frame(s); run the "
                                     f"same command again to resume")
            report.bad += fut.result()
            report.computed += sizes[fut.key]
            if progress is not None:
                progress(report.skipped + report.computed, report.total)
    finally:
        client.cancel(futures)


def run_batch(plan: BatchPlan, *, workers: int | None = None, scheduler: str | None = None,
              progress: Progress = None, cancel: Cancel = None, follow: bool = False,
              poll_s: float = 1.0) -> BatchReport:
    """Process the plan's frames (see the module docstring); returns the :class:`BatchReport`."""
    t0 = time.perf_counter()
    n = int(plan.group[st.DONE].shape[0])
    report = BatchReport(Path(plan.job.out), n, 0, n - len(plan.todo))
    try:
        if workers == 0 and not scheduler:
            _follow(plan, report, follow, poll_s, cancel,
                    lambda: _run_local(plan, report, progress, cancel))
        else:
            with compute_client(scheduler, workers) as client:
                _follow(plan, report, follow, poll_s, cancel,
                        lambda: _run_cluster(plan, report, client, progress, cancel))
    except CancelledError:
        if not follow:  # a follow run ends by being stopped: that is its normal end
            raise
    report.seconds = time.perf_counter() - t0
    _finish(plan, report)
    return report


def _follow(plan: BatchPlan, report: BatchReport, follow: bool, poll_s: float, cancel: Cancel,
            run_todo: Callable[[], None]) -> None:
    run_todo()
    while follow:
        _wait(poll_s, cancel)
        _more(plan, report)
        if plan.todo:
            run_todo()


def _wait(seconds: float, cancel: Cancel) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cancel is not None and cancel():
            raise CancelledError("follow stopped")
        time.sleep(0.05)


def _more(plan: BatchPlan, report: BatchReport) -> None:
    """Re-scan the sample for frames landed since and queue them."""
    n_before = int(plan.group[st.DONE].shape[0])
    n = plan.job.sample.refresh()
    if plan.job.inline is not None:
        n = min(n, plan.job.inline.refresh())
    if n > n_before:
        st.grow(plan.group, n)
    done = st.done_frames(plan.group)
    bad = {i for i, _ in report.bad}
    plan.todo = [i for i in range(n) if not done[i] and i not in bad]
    report.total = n


def _finish(plan: BatchPlan, report: BatchReport) -> None:
    stats = {"frames": report.total, "computed": report.computed, "skipped": report.skipped,
             "bad_frames": [[i, m] for i, m in report.bad], "seconds": round(report.seconds, 3)}
    plan.group.attrs.update({"last_run": stats})
    if plan.outputs is not None:
        report.out = plan.outputs.commit()
