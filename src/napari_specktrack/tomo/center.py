"""Centre of rotation: found automatically (sub-pixel), or checked when given by hand.

Two steps, :func:`find_center`:

1. **Mirror registration** (:func:`center_from_mirror`). The projection at θ + 180° is the
   one at θ mirrored about the axis: p(θ+π, u) = p(θ, 2c − u). Cross-correlating p(θ) with
   the mirrored p(θ+π) (column derivatives, all rows summed, the peak located to 0.01 px
   by band-limited interpolation of the correlation) gives 2c − (N−1). Over 360° such pairs
   exist exactly. Over a half-open 180° the nearest pair is one step short of 180°
   (0° with 180° − Δ); the estimate then carries a bias about linear in the shortfall, so
   pairs short by Δ and 2Δ are registered and extrapolated to a shortfall of 0.
2. **Sharpness refinement** (:func:`refine_center`). A few rows are reconstructed on a sparse
   sample of image tiles at candidate centres around the estimate (the filtered sinogram is
   computed once: it does not depend on the centre), and the centre that minimises the
   histogram entropy of the slices (Donath et al., J. Opt. Soc. Am. A 23, 2006) wins, to a
   fraction of the step by a parabola through the three best candidates.

A manual centre goes through :func:`~napari_specktrack.tomo.checks.check_center`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import CancelledError, InputError
from . import checks
from .backproject import Backprojector
from .fbp import filter_block, setup

check_center = checks.check_center  # the manual override, re-exported

#: sub-pixel resolution of the mirror registration (px of 2c − (N−1))
_REGISTRATION_STEP = 0.01
#: histogram bins of the entropy metric
_ENTROPY_BINS = 128
#: about this many tiles of each refinement slice are reconstructed
_REFINE_TILES = 48
#: the filter of the refinement's slices
REFINE_FILTER = "hann"


@dataclass(frozen=True, eq=False)
class CenterFit:
    """A found centre of rotation (detector columns, 0-based) and how it was found."""

    center_px: float
    registration_px: float
    refined: bool
    candidates_px: np.ndarray = field(default_factory=lambda: np.zeros(0))
    metric: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def to_dict(self) -> dict:
        return {"center_px": self.center_px, "registration_px": self.registration_px,
                "refined": self.refined}


def _taper(n: int) -> np.ndarray:
    """Tukey window of n samples, 10 % cosine taper at each end."""
    w = np.ones(n)
    k = max(n // 10, 1)
    ramp = 0.5 * (1 - np.cos(np.pi * (np.arange(k) + 0.5) / k))
    w[:k], w[n - k:] = ramp, ramp[::-1]
    return w


def register_mirror(p0, p180) -> float:
    """Centre c (columns) such that ``p180(u) ≈ p0(2c − u)``, from two projections
    (rows, columns) or rows (columns,) 180° apart."""
    a = np.atleast_2d(np.asarray(p0, dtype=np.float64))
    b = np.atleast_2d(np.asarray(p180, dtype=np.float64))[:, ::-1]
    n = a.shape[-1]
    w = _taper(n - 1)
    da, db = np.diff(a, axis=-1) * w, np.diff(b, axis=-1) * w
    size = 1 << math.ceil(math.log2(2 * n))
    cross = (np.fft.rfft(da, size) * np.conj(np.fft.rfft(db, size))).sum(axis=0)
    corr = np.fft.irfft(cross, size)
    lag = int(np.argmax(corr))
    lag = lag - size if lag > size // 2 else lag
    # band-limited correlation on a fine grid around the integer peak
    fine = lag + np.arange(-1.0, 1.0 + 1e-9, _REGISTRATION_STEP)
    k = np.arange(cross.size)
    weight = np.where((k == 0) | (k == size // 2), 1.0, 2.0)
    phase = np.exp(2j * np.pi * np.outer(fine, k) / size)
    values = (phase @ (cross * weight)).real
    shift = float(fine[int(np.argmax(values))])  # db(u) ≈ da(u + shift), shift = 2c − (N−1)
    return ((n - 1) + shift) / 2.0


def _pairs(n: int, k: int) -> list[tuple[int, int]]:
    """The first two index pairs (i, i + k) of a stack of n projections."""
    return [(i, i + k) for i in range(2) if 0 < k and i + k < n]


def center_from_mirror(projections, angles_deg, *, rows=None) -> float:
    """Centre of rotation (columns) from mirrored projection pairs, see the module doc."""
    a, n_rows, _n = checks.check_stack(projections)
    angles = checks.check_angles(angles_deg, a)
    r0, r1 = checks.check_rows(rows, n_rows)

    def estimate(pairs):
        ests = []
        for i, j in pairs:
            p0 = np.asarray(projections[i, r0:r1, :], dtype=np.float64)
            p1 = np.asarray(projections[j, r0:r1, :], dtype=np.float64)
            checks.check_finite(np.stack([p0, p1]), what=f"projections {i} and {j}")
            ests.append(register_mirror(p0, p1))
        return float(np.mean(ests))

    step = abs(angles[1] - angles[0])
    k1 = min(math.floor(180.0 / step + 1e-6), a - 1)  # the pair closest to, not beyond, 180°
    short1 = 180.0 - k1 * step  # shortfall of that pair, degrees
    if abs(short1) < 1e-6 * step:
        return estimate(_pairs(a, k1))
    # bias ≈ linear in the shortfall: extrapolate from shortfalls short1 and short1 + step
    c1, c2 = estimate(_pairs(a, k1)), estimate(_pairs(a, k1 - 1))
    return (c1 * (short1 + step) - c2 * short1) / step


def _entropy(values: np.ndarray, lo: float, hi: float) -> float:
    hist, _ = np.histogram(values, bins=_ENTROPY_BINS, range=(lo, hi))
    p = hist[hist > 0] / max(hist.sum(), 1)
    return float(-(p * np.log(p)).sum())


def refine_center(projections, angles_deg, guess_px: float, *, rows=None,
                  search_px: float = 1.5, step_px: float = 0.25,
                  filter_name: str = REFINE_FILTER, device: str = "cpu",
                  cancel: Callable[[], bool] | None = None) -> tuple[float | None, np.ndarray, np.ndarray]:
    """Refine a centre by minimum slice entropy over ``guess_px`` ± ``search_px`` in steps of
    ``step_px`` (columns). ``rows``: the rows to reconstruct (default: 3 spread over the
    stack); ``filter_name``: Hann by default, whose smoother slices keep pixel noise from
    flattening the entropy. Returns (centre, candidate centres, their entropies); the centre
    is None when the minimum lies on the edge of the search (no interior minimum)."""
    a, n_rows, n = checks.check_stack(projections)
    chosen = _refine_rows(rows, n_rows)
    s = setup((a, n_rows, n), angles_deg, checks.check_center(guess_px, n),
              filter_name=filter_name, device=device)
    block = np.stack([np.asarray(projections[:, r, :]) for r in chosen], axis=1)
    checks.check_finite(block, what=f"projection rows {chosen}")
    filtered = filter_block(block, s)
    lo_c = max(guess_px - search_px, 0.0)
    hi_c = min(guess_px + search_px, n - 1.0)
    candidates = np.arange(lo_c, hi_c + 1e-9, step_px)
    radius = 0.8 * min(lo_c, n - 1 - hi_c)  # one pixel set, seen by every candidate
    theta = np.deg2rad(s.angles_deg)
    stride = max(1, round(math.pi * (radius / 32) ** 2 / _REFINE_TILES))
    slices = []
    for c in candidates:
        if cancel is not None and cancel():
            raise CancelledError("centre search cancelled")
        bp = Backprojector(n, theta, c, device=s.device, tile_stride=stride, radius_px=radius)
        slices.append(bp.tile_slices(filtered).cpu().numpy()[bp.inside_tiles()])
    lo, hi = np.percentile(slices[len(slices) // 2], [0.5, 99.5])
    pad = 0.25 * (hi - lo)
    metric = np.array([_entropy(v, lo - pad, hi + pad) for v in slices])
    best = int(np.argmin(metric))
    if best in (0, len(metric) - 1):
        return None, candidates, metric
    return _parabola_min(candidates, metric), candidates, metric


def _refine_rows(rows, n_rows: int) -> list[int]:
    if rows is None:
        return sorted({round(f * (n_rows - 1)) for f in (0.25, 0.5, 0.75)})
    out = sorted({int(r) for r in np.atleast_1d(rows)})
    if not out or out[0] < 0 or out[-1] >= n_rows:
        raise InputError(f"centre rows {rows!r} must be rows of the stack (0…{n_rows - 1})")
    return out


def _parabola_min(x: np.ndarray, y: np.ndarray) -> float:
    """Minimum of y(x) to sub-step precision (parabola through the best point and neighbours)."""
    i = int(np.argmin(y))
    if i == 0 or i == len(y) - 1:
        return float(x[i])
    y0, y1, y2 = y[i - 1], y[i], y[i + 1]
    denom = y0 - 2 * y1 + y2
    offset = 0.5 * (y0 - y2) / denom if denom > 0 else 0.0
    return float(x[i] + np.clip(offset, -0.5, 0.5) * (x[1] - x[0]))


def find_center(projections, angles_deg, *, rows=None, refine: bool = True,
                search_px: float = 1.5, device: str = "cpu",
                cancel: Callable[[], bool] | None = None) -> CenterFit:
    """Find the centre of rotation of a stack (angles, rows, columns), in detector columns.

    ``rows``: for the registration a half-open (R0, R1) range (default all), for the
    refinement the middle row of it and two more; ``refine=False`` stops after the mirror
    registration. ``search_px``: the refinement's half-width around the registration. When
    the entropy has no minimum inside the search, the registration is kept
    (``CenterFit.refined`` False).
    """
    _a, n_rows, n = checks.check_stack(projections)
    r0, r1 = checks.check_rows(rows, n_rows)
    reg = center_from_mirror(projections, angles_deg, rows=(r0, r1))
    reg = min(max(reg, 0.0), n - 1.0)
    if not refine:
        return CenterFit(reg, reg, False)
    pick = [r0 + round(f * (r1 - 1 - r0)) for f in (0.25, 0.5, 0.75)]
    c, cand, metric = refine_center(projections, angles_deg, reg, rows=pick, search_px=search_px,
                                    device=device, cancel=cancel)
    return CenterFit(reg if c is None else c, reg, c is not None, cand, metric)
