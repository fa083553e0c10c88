"""All frames of a stack into a zarr store from the Retrieval dock, through the batch path.

The dock's *write all frames to a zarr store* runs :func:`napari_specktrack.batch.plan_batch`
and :func:`~napari_specktrack.batch.run_batch` (in this process: ``workers=0``) on the files the
assigned layers were opened from — the same call as ``specktrack batch`` — so a cancelled or
crashed run resumes where it stopped when started again with the same settings, and the
result opens lazily (dask over zarr) as the slider moves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..pipeline import OUTPUT_FIELDS


def source_of(layer: Any, role: str) -> str:
    """The file (``file.h5:/dataset`` for HDF5) a layer was opened from, else InputError."""
    meta = getattr(layer, "metadata", None) or {}
    path = meta.get("source_path") if isinstance(meta, dict) else None
    if not path or not Path(path).is_file():
        raise InputError(f"the {role} layer {layer.name!r} was not opened from a file; writing a zarr "
                         f"store reads the frames from their files — save it (File → Save Selected "
                         f"Layers) and open that file, or untick the zarr option")
    dataset = meta.get("dataset")
    return f"{path}:{dataset}" if dataset else str(path)


def batch_sources(assignment: Any, *, measured: bool) -> dict[str, str | None]:
    """Role → file of an assignment, for ``plan_batch`` (the in-line only when measured)."""
    out = {"sample": source_of(assignment.sample, "sample"),
           "reference": source_of(assignment.reference, "reference"),
           "inline": source_of(assignment.inline, "in-line") if measured else None}
    for role in ("dark", "flat"):
        layer = getattr(assignment, role)
        out[role] = None if layer is None else source_of(layer, role)
    return out


def batch_job(sources: dict[str, str | None], params: Any, geometry: Any, store: str):
    """The worker function: plan and run the batch in this process; returns the report."""
    def job(progress: Any, cancel: Any) -> Any:
        from ..batch import plan_batch, run_batch

        plan = plan_batch(sources["sample"], sources["reference"], params, geometry, store,
                          inline=sources["inline"], dark=sources["dark"], flat=sources["flat"],
                          threads=_cores())
        return run_batch(plan, workers=0, progress=progress, cancel=cancel)

    return job


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def open_store_lazily(store: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(field key → dask array over the store's zarr array, read as napari slices it; the
    store's attributes: geometry, provenance, last run)."""
    import dask.array as da
    import zarr

    group = zarr.open_group(str(store), mode="r")
    return {f.key: da.from_zarr(group[f.key]) for f in OUTPUT_FIELDS}, dict(group.attrs)
