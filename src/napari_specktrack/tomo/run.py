"""A reconstruction run, as the command line and the CT dock make it: checked, centred, recorded.

:func:`plan_reconstruction` checks the stack and every parameter, finds the centre of rotation
when none is given, and builds the one provenance record (plus ``center_px``, ``angles_deg``,
``filter`` and ``quantity``, the keys the ``SLICES.json`` contract names). :func:`run_slabs`
yields the finished slabs in the requested quantity (radians per pixel, or δ); the CLI writes
them into a memory-mapped TIFF as they finish (:func:`write_slices`), the dock into an array.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..geometry import Geometry
from ..provenance import make_record
from . import checks
from .center import find_center
from .fbp import FBPSetup, iter_slabs, setup
from .filters import DEFAULT_FILTER
from .units import QUANTITIES, delta_per_phase

Progress = Callable[[int, int], None] | None
Cancel = Callable[[], bool] | None


@dataclass
class ReconstructionPlan:
    """A checked reconstruction (everything but the computing)."""

    setup: FBPSetup
    quantity: str
    geometry: Geometry | None
    provenance: dict[str, Any]
    center: dict[str, Any]  #: how the centre was found (or that it was given)

    @property
    def center_px(self) -> float:
        return self.setup.center_px

    @property
    def n_slices(self) -> int:
        return self.setup.rows[1] - self.setup.rows[0]

    @property
    def scale(self) -> float:
        """Factor from the FBP result (rad per detector pixel) to the quantity."""
        return 1.0 if self.quantity == "phase" else delta_per_phase(self.geometry)


def plan_reconstruction(projections: Any, angles_deg: Sequence[float], *,
                        center_px: float | None = None, filter_name: str = DEFAULT_FILTER,
                        rows: Sequence[int] | None = None, quantity: str = "phase",
                        geometry: Geometry | None = None, device: str = "cpu",
                        inputs: Mapping[str, Any] | None = None, cancel: Cancel = None
                        ) -> ReconstructionPlan:
    """Check a reconstruction and find its centre (``center_px`` None) before any slice."""
    if quantity not in QUANTITIES:
        raise InputError(f"unknown quantity {quantity!r}; choose one of {QUANTITIES}")
    if quantity == "delta" and not isinstance(geometry, Geometry):
        raise InputError("the quantity delta needs the geometry (δ = −f / (k · p/M))")
    shape = checks.check_stack(projections)
    if center_px is None:
        fit = find_center(projections, angles_deg, device=device, cancel=cancel)
        center_px, center = fit.center_px, {"found": True, **fit.to_dict()}
    else:
        center = {"found": False, "center_px": float(center_px)}
    s = setup(shape, angles_deg, center_px, filter_name=filter_name,
              rows=None if rows is None else tuple(rows), device=device)
    params = {**s.to_dict(), "quantity": quantity, "angles_start_stop_deg": list(angles_deg)}
    params.pop("angles_deg", None)
    prov = make_record("reconstruct", params, dict(inputs or {}), geometry,
                       center_px=s.center_px, angles_deg=[float(a) for a in s.angles_deg],
                       filter=s.filter_name, quantity=quantity, center=center)
    return ReconstructionPlan(s, quantity, geometry, prov, center)


def run_slabs(plan: ReconstructionPlan, projections: Any, *, progress: Progress = None,
              cancel: Cancel = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(first slice index, slab (S, N, N) float32)`` in the plan's quantity, as they finish."""
    s = plan.setup
    for row, slab in iter_slabs(projections, s.angles_deg, s.center_px, filter_name=s.filter_name,
                                rows=s.rows, circle=s.circle, device=s.device,
                                slab_rows=s.slab_rows, progress=progress, cancel=cancel):
        yield row - s.rows[0], (slab * np.float32(plan.scale)).astype(np.float32, copy=False)


def write_slices(plan: ReconstructionPlan, projections: Any, tif: Path, sidecar: Path, *,
                 progress: Progress = None, cancel: Cancel = None) -> None:
    """Slices into a memory-mapped float32 TIFF as they finish, then the JSON sidecar."""
    import json

    import tifffile

    from ..io import write_json

    n = plan.setup.n_columns
    meta = {"provenance": plan.provenance, "unit": "rad/px" if plan.quantity == "phase" else "1"}
    out = tifffile.memmap(tif, shape=(plan.n_slices, n, n), dtype=np.float32,
                          description=json.dumps(meta), photometric="minisblack")
    for i, slab in run_slabs(plan, projections, progress=progress, cancel=cancel):
        out[i:i + slab.shape[0]] = slab
    out.flush()
    del out
    write_json(sidecar, plan.provenance)
