"""Filtered back-projection (parallel beam) of projection stacks, slab by slab.

Conventions (the only place they are stated; everything in :mod:`napari_specktrack.tomo`
follows them):

- **Projections** are (angles, rows, columns); row r of every projection forms the sinogram
  of slice r. **Angles** are evenly spaced from START (included) to STOP (excluded) degrees
  and span 180° or 360°; 360 projections over ``(0, 180)`` are 0, 0.5, …, 179.5°. An
  explicit list of evenly spaced angles that includes both ends (0, 0.5, …, 180°, as
  beamline files often record) is accepted too, with the ends weighted by half.
- **Centre of rotation** ``center_px``: the detector column (0-based, sub-pixel) the axis
  projects onto.
- **Slices** are (rows, N, N) float32, N = columns. Pixel (i, j) of a slice sits at
  X = j − (N−1)/2, Y = i − (N−1)/2 from the axis, and projects at angle θ onto column
  u = center_px + X cos θ − Y sin θ. So a stack built as
  ``P[i, r, :] = skimage.transform.radon(img, theta=angles)[:, i]`` reconstructs, with
  ``center_px = (N−1)/2`` and N odd, to ``img`` in the orientation ``iradon`` returns. For
  even N, skimage puts the axis and the image centre at N/2: pass ``center_px = N/2`` and
  expect the slice shifted by half a pixel against iradon's.
- **Values**: a projection in units U (radians of phase, or −ln T) reconstructs to U per
  detector pixel of path (FBP scale π / (2·n_angles) for half-open angles, as iradon).
  :mod:`.units` turns radians per pixel into δ.
- **Field of view**: the disk of radius min(c, N−1−c) pixels about the slice centre (seen by
  every projection); 0 outside unless ``circle=False``.

Memory is bounded: :func:`iter_slabs` reads, filters and back-projects a slab of rows at a
time and yields each finished slab, so slices can be written as they finish.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import CancelledError
from . import checks
from .backproject import Backprojector
from .filters import DEFAULT_FILTER, check_filter, filter_rows

#: memory a slab may use (output slices + interpolation tables + FFT buffers), bytes
SLAB_MEMORY_BYTES = 1 << 30
#: most rows per slab (beyond this the shared index work is already amortised)
MAX_SLAB_ROWS = 64


@dataclass(frozen=True, eq=False)
class FBPSetup:
    """A checked reconstruction: everything but the data. ``to_dict()`` is the provenance."""

    n_angles: int
    n_rows: int
    n_columns: int
    angles_deg: np.ndarray
    center_px: float
    filter_name: str
    rows: tuple[int, int]
    circle: bool
    device: str
    slab_rows: int

    @property
    def angle_weights(self) -> np.ndarray:
        """Weight of each projection in the sum over angles (:func:`checks.angle_weights`)."""
        return checks.angle_weights(self.angles_deg)

    def to_dict(self) -> dict:
        return {
            "center_px": self.center_px,
            "angles_deg": [round(float(a), 9) for a in self.angles_deg],  # one per projection
            "n_angles": self.n_angles,
            "filter": self.filter_name,
            "rows": list(self.rows),
            "circle": self.circle,
            "device": self.device,
        }


def default_slab_rows(n_columns: int, n_angles: int, memory_bytes: int = SLAB_MEMORY_BYTES) -> int:
    """Rows per slab such that one slab stays within ``memory_bytes`` (1 … MAX_SLAB_ROWS)."""
    n, a = int(n_columns), int(n_angles)
    per_row = 4 * (n * n + 2 * a * int(1.5 * n) + 5 * a * n)  # slices, tables, FFT (bytes)
    return int(min(max(memory_bytes // per_row, 1), MAX_SLAB_ROWS))


def setup(shape, angles_deg, center_px, *, filter_name: str = DEFAULT_FILTER, rows=None,
          circle: bool = True, device: str = "cpu", slab_rows: int | None = None) -> FBPSetup:
    """Check every parameter against a stack of ``shape`` (angles, rows, columns)."""
    a, n_rows, n = (int(v) for v in shape)
    angles = checks.check_angles(angles_deg, a)
    center = checks.check_center(center_px, n)
    r0, r1 = checks.check_rows(rows, n_rows)
    if slab_rows is None:
        slab = default_slab_rows(n, a)
    elif int(slab_rows) != slab_rows or slab_rows < 1:
        raise checks.InputError(f"slab_rows {slab_rows!r} must be a positive integer")
    else:
        slab = int(slab_rows)
    return FBPSetup(a, n_rows, n, angles, center, check_filter(filter_name), (r0, r1),
                    bool(circle), checks.check_device(device), slab)


def filter_block(block, setup_: FBPSetup, *, bin_px: int = 1):
    """Filtered, scaled rows (A, S, n) as a float32 torch tensor on the setup's device."""
    import torch

    # np.require copies a read-only memmap block (torch wants writable memory)
    rows = torch.from_numpy(np.require(block, np.float32, ["C", "W"])).to(setup_.device)
    out = filter_rows(rows, setup_.filter_name, scale=1.0 / bin_px)
    weights = torch.as_tensor(setup_.angle_weights, dtype=torch.float32, device=out.device)
    return out.mul_(weights[:, None, None])


def iter_slabs(projections, angles_deg, center_px, *, filter_name: str = DEFAULT_FILTER,
               rows=None, circle: bool = True, device: str = "cpu", slab_rows: int | None = None,
               progress: Callable[[int, int], None] | None = None,
               cancel: Callable[[], bool] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Reconstruct rows of a projection stack slab by slab.

    Parameters
    ----------
    projections
        (angles, rows, columns) array-like (numpy, memmap, or anything sliceable as
        ``projections[:, r0:r1, :]``), real.
    angles_deg
        ``(START, STOP)`` in degrees (STOP excluded), or the evenly spaced angles.
    center_px
        Rotation axis, detector column (0-based, sub-pixel); see :mod:`.center` to find it.
    filter_name
        ``"shepp-logan"`` (default), ``"ramp"``, ``"cosine"`` or ``"hann"``.
    rows
        Half-open range (R0, R1) of rows (= slices) to reconstruct; None = all.
    circle, device, slab_rows
        Field-of-view mask; torch device ("cpu", "cuda", "cuda:N"); rows per slab (default:
        :func:`default_slab_rows`, ≈ 1 GiB).
    progress, cancel
        ``progress(rows_done, rows_total)`` after each slab; ``cancel()`` is checked before
        each slab and every few image tiles, and raises :class:`CancelledError`.

    Returns an iterator of ``(row_start, slices)``: ``slices`` (S, N, N) float32 numpy is
    slice ``row_start`` … ``row_start + S − 1`` of the stack. Every input is checked when
    this function is called, before anything is computed (NaN/inf too, for numpy arrays;
    other array-likes are checked slab by slab as they are read).
    """
    s = setup(checks.check_stack(projections), angles_deg, center_px, filter_name=filter_name,
              rows=rows, circle=circle, device=device, slab_rows=slab_rows)
    if isinstance(projections, np.ndarray):
        checks.check_finite_rows(projections, *s.rows)
    return _slabs(projections, s, progress, cancel)


def _slabs(projections, s: FBPSetup, progress, cancel) -> Iterator[tuple[int, np.ndarray]]:
    bp = Backprojector(s.n_columns, np.deg2rad(s.angles_deg), s.center_px, circle=s.circle,
                       device=s.device)
    r_start, r_stop = s.rows
    for r0 in range(r_start, r_stop, s.slab_rows):
        if cancel is not None and cancel():
            raise CancelledError(f"reconstruction cancelled after {r0 - r_start} of "
                                 f"{r_stop - r_start} slice(s)")
        r1 = min(r0 + s.slab_rows, r_stop)
        block = np.asarray(projections[:, r0:r1, :])
        checks.check_finite(block, what=f"projection rows {r0}–{r1 - 1}")
        slab = bp.slices(filter_block(block, s), cancel)
        yield r0, slab.cpu().numpy()
        if progress is not None:
            progress(r1 - r_start, r_stop - r_start)


def reconstruct(projections, angles_deg, center_px, *, out=None, **kwargs) -> np.ndarray:
    """All requested slices as one (R1 − R0, N, N) float32 array (see :func:`iter_slabs` for
    the parameters). ``out``, if given, is an array-like of that shape (e.g. a memmap) that
    receives the slices as they finish, and is returned."""
    it = iter_slabs(projections, angles_deg, center_px, **kwargs)
    shape = np.shape(projections)
    r0, r1 = checks.check_rows(kwargs.get("rows"), shape[1])
    want = (r1 - r0, shape[2], shape[2])
    if out is None:
        out = np.empty(want, dtype=np.float32)
    elif tuple(np.shape(out)) != want:
        raise checks.InputError(f"out has shape {tuple(np.shape(out))}; it must be {want}")
    for row, slab in it:
        out[row - r0: row - r0 + slab.shape[0]] = slab
    return out


def reconstruct_slice(sinogram, angles_deg, center_px, **kwargs) -> np.ndarray:
    """One slice (N, N) float32 from a sinogram (angles, columns); keywords as
    :func:`iter_slabs` (without ``rows``)."""
    checks.check_stack(sinogram, ndim=2, name="sinogram")
    stack = np.asarray(sinogram)[:, None, :]
    return reconstruct(stack, angles_deg, center_px, **kwargs)[0]
