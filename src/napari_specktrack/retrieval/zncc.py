"""The correlation core of speckle tracking: the ZNCC of every pixel's window at every trial shift.

For every pixel r and every integer trial shift u in [−S, S]² the sample window around r is
compared with the reference window around r − u:

    C(r, u) = (⟨N · R_u⟩_W(r) − ⟨N⟩_W(r) ⟨R_u⟩_W(r)) / (σ_W(N)(r) · σ_W(R_u)(r)),   R_u(r) = R(r − u).

The reference's window means and standard deviations are shifted copies of one box-filtered
map and the sample's do not depend on u, so each trial shift costs one product image and one
window sum. That is (2S + 1)² full-image passes — memory-bound on a CPU — so the work is laid
out for the cache:

- rows are processed in bands, and the shifts of a band in chunks of one row of the search
  grid (one ``dy``, all ``dx``): a chunk's products, window sums and ZNCC are computed while
  they sit in the CPU cache (about 1 MB), and the shifts of a chunk are one strided view of
  the reference, so a chunk is a few large torch calls rather than one call per shift;
- window sums along rows are built by binary doubling (sums of 1, 2, 4, 8 … neighbours,
  combined by the bits of the window side): a few vectorised additions where a cumulative sum
  along rows is a scalar loop; along columns, a cumulative sum restarting on every row;
- the division by the sample's standard deviation, constant over u, is left until after the
  maximum; the peak is found by a maximum without indices (vectorised) and then matched.

The same torch code runs on CPU threads or a CUDA GPU (there with larger bands); on the CPU
the search runs compiled by default (:mod:`._zncc_numba`: running window sums, ≈ 5× faster),
with this torch search as its reference in the tests. Either way the maximum is refined here
to sub-pixel precision by a least-squares paraboloid through the 3 × 3 ZNCC values around it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import CancelledError, InputError

#: added to standard deviations before dividing (flat windows give ZNCC 0, not NaN)
EPS = 1e-12
#: bytes of one band's ZNCC values in the torch search on a CPU (within the last-level cache)
#: and on a GPU
BAND_BYTES_CPU = 16e6
BAND_BYTES_GPU = 256e6
#: the search's implementations (:func:`correlate`)
ENGINES = ("auto", "compiled", "torch")


def _torch():
    import torch

    return torch


def box_sum(t, w: int):
    """Sums over w × w windows of the last two dims (valid part): (..., H, W) → (..., H−w+1, W−w+1)."""
    return window_sum(window_sum(t, w, -2), w, -1)


def window_sum(t, w: int, dim: int):
    """Sums of ``w`` consecutive elements along ``dim`` (valid part: the length shrinks by w − 1).

    Along the last (contiguous) dimension: differences of a cumulative sum that restarts on
    every row. Along another: binary doubling — sums of 1, 2, 4, … neighbours are built by one
    addition each and the window is assembled from those whose size is a bit of ``w``
    (11 = 8 + 2 + 1), about 2·log2(w) vectorised additions where a cumulative sum along rows
    is a scalar loop. Each is the fastest of the two along its dimension on the CPU
    (≈ 1.1 and 1.4 ns per element and window here, against 2.0 and 5.7 for the other).
    """
    torch = _torch()
    if dim in (-1, t.ndim - 1):
        cx = torch.nn.functional.pad(t, (1, 0)).cumsum(-1)
        return cx[..., w:] - cx[..., :-w]
    n = t.shape[dim]
    out = None
    offset = 0
    level, size = t, 1
    while True:
        if w & size:
            piece = level.narrow(dim, offset, n - w + 1)
            out = piece.clone() if out is None else out.add_(piece)
            offset += size
        if size * 2 > w:
            return out
        m = level.shape[dim]
        level = level.narrow(dim, 0, m - size) + level.narrow(dim, size, m - size)
        size *= 2


def _shifted_views(base, count: int, rows: int, cols: int):
    """(count, rows, cols) view of a 2-D tensor: view[j] = base[:rows, j : j + cols]."""
    return base.as_strided((count, rows, cols), (base.stride(1), base.stride(0), base.stride(1)),
                           base.storage_offset())


def default_band_rows(nx: int, window_px: int, search_px: int, device: str = "cpu",
                      ny: int | None = None) -> int:
    """Rows per band (the tracking checks ``cancel`` and moves progress between bands). The
    compiled CPU search: two blocks of :data:`~._zncc_numba.BLOCK_ROWS` rows per thread, but
    a frame of ``ny`` rows in at least four bands where blocks allow. The torch search: one
    band's ZNCC values ((2S+1)² shifts × rows × nx float32) within :data:`BAND_BYTES_CPU` (the
    cache) or :data:`BAND_BYTES_GPU`; at least 8."""
    torch = _torch()
    if _use_compiled("auto", torch.device(device)):
        from ._zncc_numba import BLOCK_ROWS

        rows = 2 * BLOCK_ROWS * max(1, torch.get_num_threads())  # two blocks per thread
        if ny is not None:
            quarter = math.ceil(math.ceil(int(ny) / 4) / BLOCK_ROWS) * BLOCK_ROWS  # in blocks
            rows = min(rows, max(BLOCK_ROWS, quarter))
        return rows
    budget = BAND_BYTES_GPU if str(device).startswith("cuda") else BAND_BYTES_CPU
    shifts = (2 * int(search_px) + 1) ** 2
    return max(8, int(budget / (4 * shifts * (nx + 2 * (int(window_px) // 2)))))


@dataclass
class Correlation:
    """The peak of every pixel's ZNCC over the trial shifts (torch tensors, (y, x)).

    ``peak_dy``/``peak_dx``: the integer shift of the maximum (px, int64); ``dy``/``dx``: the
    sub-pixel shift (px, float32); ``zncc``: the maximum ZNCC; ``sample_mean``/``sample_std``:
    the sample's window statistics; ``reference_mean_all``/``reference_std_all``: the
    reference's at every padded position ((ny + 2S, nx + 2S): position r + S − u is the window
    around r − u).
    """

    peak_dy: object
    peak_dx: object
    dy: object
    dx: object
    zncc: object
    sample_mean: object
    sample_std: object
    reference_mean_all: object
    reference_std_all: object


def correlate(sample: np.ndarray, reference: np.ndarray, window_px: int, search_px: int, *,
              device: str = "cpu", band_rows: int | None = None, engine: str = "auto",
              cancel: Callable[[], bool] | None = None) -> Correlation:
    """ZNCC peak of every pixel over the integer shifts [−search_px, search_px]² (px).

    ``sample`` and ``reference`` are checked 2-D images of one shape (see
    :func:`~napari_specktrack.retrieval.tracking.track`); ``cancel`` is called between bands
    and raises :class:`CancelledError` when it returns True. ``engine``: "auto" (the compiled
    search on the CPU, :mod:`._zncc_numba`; torch elsewhere), "compiled" or "torch" (the same
    values to float32 round-off).
    """
    torch = _torch()
    w, s = int(window_px), int(search_px)
    h = w // 2
    ny, nx = sample.shape
    dev = torch.device(device)
    # covariance is invariant to global offsets: remove them to keep float32 sums small
    n_img = torch.from_numpy(np.ascontiguousarray(sample, dtype=np.float32)).to(dev)
    r_img = torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float32)).to(dev)
    n_img = n_img - n_img.mean()
    r_img = r_img - r_img.mean()
    pad = torch.nn.functional.pad
    n_pad = pad(n_img[None, None], (h, h, h, h), mode="reflect")[0, 0]
    r_pad = pad(r_img[None, None], (h + s,) * 4, mode="reflect")[0, 0].contiguous()

    area = float(w * w)
    r_mean_all = box_sum(r_pad, w) / area  # (ny + 2s, nx + 2s)
    r_std_all = (box_sum(r_pad * r_pad, w) / area - r_mean_all**2).clamp_min(0).sqrt()
    r_inv_std = (1.0 / (r_std_all + EPS)).contiguous()
    r_mean_all = r_mean_all.contiguous()
    n_mean = box_sum(n_pad, w) / area  # (ny, nx)
    n_std = (box_sum(n_pad * n_pad, w) / area - n_mean**2).clamp_min(0).sqrt()
    n_scaled = n_pad / area  # window sums of N/area · R_u are the means ⟨N · R_u⟩

    compiled = _use_compiled(engine, dev)
    if band_rows is None:
        band_rows = default_band_rows(nx, w, s, str(dev), ny)
    peak = torch.empty((2, ny, nx), dtype=torch.int64, device=dev)  # integer (dy, dx)
    best_all = torch.empty((ny, nx), dtype=torch.float32, device=dev)
    sub = torch.empty((2, ny, nx), dtype=torch.float32, device=dev)
    quad = _quad_fit_matrix(dev)
    if compiled:
        from ._zncc_numba import BLOCK_ROWS, search_rows

        # bands of whole blocks: each block restarts its float32 column sums, so bands aligned
        # to blocks give the same values whatever ``band_rows`` (and thread count) is asked for
        band_rows = max(1, math.ceil(band_rows / BLOCK_ROWS)) * BLOCK_ROWS
        arrays = [np.ascontiguousarray(a.numpy()) for a in (n_pad, r_pad, n_mean, r_mean_all,
                                                             r_inv_std)]
        threads = torch.get_num_threads()

    for r0 in range(0, ny, band_rows):
        if cancel is not None and cancel():
            raise CancelledError("tracking cancelled")
        r1 = min(r0 + band_rows, ny)
        if compiled:
            best, pk, nine = (torch.from_numpy(a) for a in search_rows(*arrays, w, s, r0, r1,
                                                                     threads))
        else:
            best, pk, nine = _search_band(n_scaled, r_pad, n_mean, r_mean_all, r_inv_std, w, s,
                                          r0, r1)
        inv_ns = 1.0 / (n_std[r0:r1] + EPS)
        best_all[r0:r1] = best * inv_ns
        peak[:, r0:r1] = pk
        # sub-pixel: least-squares paraboloid through the 3 × 3 ZNCC values around the integer
        # peak (handles elongated, tilted peaks); the integer peak where it is not a maximum
        coef = torch.einsum("pk,kcn->pcn", quad, nine * inv_ns)
        _, b_x, c_y, d_xx, e_yy, f_xy = coef
        det = 4 * d_xx * e_yy - f_xy * f_xy
        ok = (det > 1e-9) & (d_xx < 0) & (e_yy < 0)
        safe = torch.where(ok, det, torch.ones_like(det))
        off_x = torch.where(ok, (f_xy * c_y - 2 * e_yy * b_x) / safe, torch.zeros_like(det))
        off_y = torch.where(ok, (f_xy * b_x - 2 * d_xx * c_y) / safe, torch.zeros_like(det))
        centre = pk.clamp(-(s - 1), s - 1).to(torch.float32)  # the fit's centre
        sub[0, r0:r1] = centre[0] + off_y.clamp(-1.0, 1.0)
        sub[1, r0:r1] = centre[1] + off_x.clamp(-1.0, 1.0)

    return Correlation(
        peak_dy=peak[0], peak_dx=peak[1], dy=sub[0], dx=sub[1], zncc=best_all,
        sample_mean=n_mean, sample_std=n_std, reference_mean_all=r_mean_all,
        reference_std_all=r_std_all,
    )


def _search_band(n_scaled, r_pad, n_mean, r_mean_all, r_inv_std, w: int, s: int, r0: int,
                 r1: int):
    """The search for output rows [r0, r1) in torch (any device): the maximum over the shifts
    of (⟨N · R_u⟩ − ⟨N⟩⟨R_u⟩) / σ(R_u), its integer (dy, dx) and the 3 × 3 values around it
    (centre kept one shift inside the grid), as :func:`._zncc_numba.search_rows` returns them.

    The shifts of a band are done in chunks of one ``dy`` (all ``dx``): one strided view of the
    reference, the products and window sums of a chunk sitting in the CPU cache.
    """
    torch = _torch()
    h, g = w // 2, 2 * s + 1
    nx = n_mean.shape[1]
    c = r1 - r0
    dev = n_scaled.device
    nb = n_scaled[r0 : r1 + 2 * h]
    nm = n_mean[r0:r1]
    # z[a, j]: the value at dy = a − s, dx = s − j (the views run over columns j → j + nx)
    z = torch.empty((g, g, c, nx), dtype=torch.float32, device=dev)
    for a, dy in enumerate(range(-s, s + 1)):
        rows = slice(r0 + s - dy, r1 + s - dy)
        prod = _shifted_views(r_pad[r0 + s - dy : r1 + 2 * h + s - dy], g, c + 2 * h,
                              nx + 2 * h) * nb
        means = window_sum(window_sum(prod, w, -2), w, -1)  # ⟨N · R_u⟩
        del prod
        rm = _shifted_views(r_mean_all[rows], g, c, nx)
        ris = _shifted_views(r_inv_std[rows], g, c, nx)
        torch.mul(means.addcmul_(nm, rm, value=-1.0), ris, out=z[a])
    a_pk, j_pk, best = _argmax2(z)
    ay = a_pk.clamp(1, g - 2)
    jx = j_pk.clamp(1, g - 2)
    nine = torch.stack([_gather(z, ay + oy, jx - ox) for oy in (-1, 0, 1) for ox in (-1, 0, 1)])
    return best, torch.stack([a_pk - s, s - j_pk]), nine


def _use_compiled(engine: str, dev) -> bool:
    """Whether the compiled CPU search runs: ``engine`` "auto" (compiled on the CPU when numba
    imports), "compiled" or "torch"."""
    if engine not in ENGINES:
        raise InputError(f"unknown tracking engine {engine!r}; choose one of {ENGINES}")
    if engine == "torch" or dev.type != "cpu":
        return False
    try:
        from . import _zncc_numba  # noqa: F401
    except ImportError:
        if engine == "compiled":
            raise InputError("the compiled tracking engine needs numba (pip install numba)") from None
        return False
    return True


def _argmax2(z):
    """Per pixel, the (a, j) of the maximum of z (a, j, y, x) and the maximum (y, x): the
    smallest a, then the smallest dx = S − j, among equal maxima (as a row-major ``torch.max``
    over (dy, dx) would). Maxima without indices and equality masks are vectorised on the CPU,
    where ``torch.max(dim)`` with indices runs about 30× slower per element."""
    torch = _torch()
    g = z.shape[0]
    per_row = z.amax(1)  # (a, y, x)
    best = per_row.amax(0)
    a_pk = torch.zeros(best.shape, dtype=torch.int64, device=z.device)
    for a in range(g - 1, -1, -1):
        a_pk.masked_fill_(per_row[a] == best, a)
    row = torch.gather(z, 0, a_pk[None, None].expand(1, *z.shape[1:]))[0]  # (j, y, x)
    j_pk = torch.zeros_like(a_pk)
    for j in range(g):
        j_pk.masked_fill_(row[j] == best, j)
    return a_pk, j_pk, best


_QUAD: dict = {}


def _quad_fit_matrix(dev):
    """(6, 9) least-squares map from the 3 × 3 values (row-major, y then x in −1, 0, 1) to the
    paraboloid a + b x + c y + d x² + e y² + f x y."""
    torch = _torch()
    key = str(dev)
    if key not in _QUAD:
        pts = [(y, x) for y in (-1, 0, 1) for x in (-1, 0, 1)]
        design = np.array([[1, x, y, x * x, y * y, x * y] for y, x in pts], dtype=np.float64)
        _QUAD[key] = torch.from_numpy(np.linalg.pinv(design).astype(np.float32)).to(dev)
    return _QUAD[key]


def _gather(grid, iy, ix):
    """grid (a, b, c, n)[iy, ix] per pixel, with iy, ix of shape (c, n)."""
    torch = _torch()
    a, b, c, n = grid.shape
    flat = grid.reshape(a * b, c, n)
    return torch.gather(flat, 0, (iy * b + ix)[None])[0]
