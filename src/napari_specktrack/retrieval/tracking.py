"""Speckle tracking: zero-normalised cross-correlation (ZNCC) of a window around every pixel.

For every pixel r and every integer trial shift u in [−S, S]², the sample window around r is
compared with the reference window around r − u (the sample shows the reference displaced by
u: I_s(r) ≈ T·R(r − u)):

    C(r, u) = cov_W(N, R_u)(r) / (σ_W(N)(r) · σ_W(R_u)(r)),   R_u(r) = R(r − u).

All window sums are box filters, done with cumulative sums, so the cost does not grow with
the window. The sample's window statistics do not depend on u, and the reference's are just
shifted copies of one box-filtered map, so each trial shift costs one product and one box
filter. The shifts of a band of rows are processed together as a batch in torch, which runs
the same code on CPU threads or a CUDA GPU; bands bound the memory (about 40 MB per band at
the default band height, whatever the frame size).

The integer peak is refined to sub-pixel precision by a least-squares paraboloid through the
3 × 3 correlation values around it. A pixel is flagged (``valid`` False) when its peak lies on the
edge of the search range (the true shift may be outside it), when its peak ZNCC is weak, or
when its shift disagrees with its neighbours' median by more than a pixel; flagged pixels are
in-painted from valid neighbours (normalised Gaussian convolution) so they cannot spike the
integrated phase.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import CancelledError, InputError

#: peak ZNCC below which a match is considered unreliable (flagged and in-painted)
MIN_QUALITY = 0.4
#: a shift further than this (px) from the 3×3 median of its neighbours is an outlier
OUTLIER_PX = 1.0
#: the largest search range suggest_parameters proposes (px); wider searches find false peaks
MAX_SUGGESTED_SEARCH = 10


@dataclass
class TrackResult:
    """Per-pixel tracking result (all float32 (y, x) except ``valid``).

    Attributes
    ----------
    dx_px, dy_px
        Speckle displacement u in detector pixels (after in-painting of flagged pixels).
    quality
        Peak ZNCC in [−1, 1] (before in-painting).
    valid
        False where the match was flagged and in-painted.
    sample_mean, sample_std
        Window mean and standard deviation of the tracked image.
    reference_mean, reference_std
        Window mean and standard deviation of the reference at the matched integer shift.
    """

    dx_px: np.ndarray
    dy_px: np.ndarray
    quality: np.ndarray
    valid: np.ndarray
    sample_mean: np.ndarray
    sample_std: np.ndarray
    reference_mean: np.ndarray
    reference_std: np.ndarray


def _torch():
    import torch

    return torch


def _box_sum(t, w: int):
    """Sums over w × w windows of the last two dims (valid part): (..., H, W) → (..., H−w+1, W−w+1).

    Cumulative sums along y (differences of whole rows: contiguous) then along x, restarting
    on every row so float32 round-off does not grow with the image size.
    """
    torch = _torch()
    cy = t.cumsum(-2)
    r = cy[..., w - 1 :, :].clone()
    r[..., 1:, :] -= cy[..., :-w, :]
    cx = torch.nn.functional.pad(r, (1, 0)).cumsum(-1)
    return cx[..., w:] - cx[..., :-w]


def _box_sum_rows_padded(buf, w: int):
    """:func:`_box_sum` of ``buf[..., 1:, :]`` for a buffer whose first row is zero, done in
    place on ``buf`` (saves two full-size temporaries on the hot path)."""
    torch = _torch()
    buf.cumsum_(-2)
    k, rows, cols = buf.shape
    xb = torch.empty((k, rows - w, cols + 1), dtype=buf.dtype, device=buf.device)
    xb[..., 0] = 0
    torch.sub(buf[:, w:], buf[:, :-w], out=xb[..., 1:])
    xb.cumsum_(-1)
    return xb[..., w:] - xb[..., :-w]


def _check_odd_window(window_px: int) -> int:
    if int(window_px) != window_px or window_px < 3 or window_px % 2 == 0:
        raise InputError(f"window_px must be an odd integer ≥ 3, got {window_px!r} (e.g. 11)")
    return int(window_px)


def track(
    sample: np.ndarray,
    reference: np.ndarray,
    *,
    window_px: int = 11,
    search_px: int = 5,
    device: str = "cpu",
    band_rows: int | None = None,
    min_quality: float = MIN_QUALITY,
    cancel: Callable[[], bool] | None = None,
) -> TrackResult:
    """Track the speckle of ``sample`` against ``reference`` (both 2-D, same shape).

    Parameters
    ----------
    sample
        The image whose speckle is displaced (sample image, or sample / in-line image).
    reference
        The speckle-only reference.
    window_px
        Side of the correlation window in pixels (odd).
    search_px
        Largest integer trial shift S in pixels; shifts in [−S, S]² are tried.
    device
        ``"cpu"`` or ``"cuda"`` (torch device string).
    band_rows
        Rows processed per batch (bounded memory); default keeps a band under ~40 MB.
    min_quality
        Peak ZNCC below which a pixel is flagged.
    cancel
        Optional callable checked between bands; returning True raises CancelledError.
    """
    torch = _torch()
    w = _check_odd_window(window_px)
    if int(search_px) != search_px or search_px < 1:
        raise InputError(f"search_px must be a positive integer, got {search_px!r} (e.g. 5)")
    s = int(search_px)
    if sample.shape != reference.shape or sample.ndim != 2:
        raise InputError(
            f"sample {sample.shape} and reference {reference.shape} must be 2-D images of one shape"
        )
    ny, nx = sample.shape
    if min(ny, nx) < w + 2 * s:
        raise InputError(
            f"image {sample.shape} is smaller than window + 2·search ({w} + 2·{s}); use a smaller "
            f"window_px/search_px or a larger image"
        )
    h = w // 2
    dev = torch.device(device)
    # covariance is invariant to global offsets: remove them to keep float32 sums small
    n_img = torch.from_numpy(np.ascontiguousarray(sample, dtype=np.float32)).to(dev)
    r_img = torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float32)).to(dev)
    n_img = n_img - n_img.mean()
    r_img = r_img - r_img.mean()
    pad = torch.nn.functional.pad
    n_pad = pad(n_img[None, None], (h, h, h, h), mode="reflect")[0, 0]
    r_pad = pad(r_img[None, None], (h + s, h + s, h + s, h + s), mode="reflect")[0, 0]

    area = float(w * w)
    # reference window statistics at every padded position, computed once
    r_mean_all = _box_sum(r_pad, w) / area  # (ny + 2s, nx + 2s)
    r_var_all = (_box_sum(r_pad * r_pad, w) / area - r_mean_all**2).clamp_min(0)
    r_std_all = r_var_all.sqrt()
    n_mean = _box_sum(n_pad, w) / area  # (ny, nx)
    n_std = (_box_sum(n_pad * n_pad, w) / area - n_mean**2).clamp_min(0).sqrt()

    shifts = [(dy, dx) for dy in range(-s, s + 1) for dx in range(-s, s + 1)]
    k = len(shifts)
    if band_rows is None:
        band_rows = max(8, int(40e6 / (4 * 3 * k * (nx + 2 * h))))
    eps = 1e-12

    peak = torch.empty((ny, nx), dtype=torch.int64, device=dev)
    zncc_best = torch.empty((ny, nx), dtype=torch.float32, device=dev)
    sub = torch.empty((2, ny, nx), dtype=torch.float32, device=dev)
    quad = _quad_fit_matrix(dev)

    def band(r0: int, r1: int) -> None:
        nb = n_pad[r0 : r1 + 2 * h]  # (c + 2h, nx + 2h)
        # products N · R_u for every shift u; R_u(r) = R(r − u) → padded row r − dy + s
        prod = torch.empty((k, r1 - r0 + 2 * h + 1, nx + 2 * h), dtype=torch.float32, device=dev)
        prod[:, 0] = 0
        for i, (dy, dx) in enumerate(shifts):
            view = r_pad[r0 + s - dy : r1 + 2 * h + s - dy, s - dx : s - dx + nx + 2 * h]
            torch.mul(view, nb, out=prod[i, 1:])
        zncc = _box_sum_rows_padded(prod, w)  # (k, c, nx): window sums of the products
        del prod
        nm = n_mean[r0:r1]
        ns = n_std[r0:r1] + eps
        for i, (dy, dx) in enumerate(shifts):
            rm = r_mean_all[r0 + s - dy : r1 + s - dy, s - dx : s - dx + nx]
            rs = r_std_all[r0 + s - dy : r1 + s - dy, s - dx : s - dx + nx]
            z = zncc[i]
            z.mul_(1.0 / area).addcmul_(nm, rm, value=-1.0).div_(rs * ns)
        best, idx = zncc.max(dim=0)
        peak[r0:r1] = idx
        zncc_best[r0:r1] = best
        # sub-pixel refinement: least-squares paraboloid through the 3 × 3 ZNCC values
        # around the integer peak (handles elongated, tilted peaks without the cross-talk of
        # two separate 1-D parabolas); falls back to the integer peak where it is not a maximum
        zgrid = zncc.reshape(2 * s + 1, 2 * s + 1, r1 - r0, nx)
        iy = (idx // (2 * s + 1)).clamp(1, 2 * s - 1)
        ix = (idx % (2 * s + 1)).clamp(1, 2 * s - 1)
        nine = torch.stack(
            [_gather(zgrid, iy + oy, ix + ox) for oy in (-1, 0, 1) for ox in (-1, 0, 1)]
        )  # (9, c, nx)
        coef = torch.einsum("pk,kcn->pcn", quad, nine)
        _, b_x, c_y, d_xx, e_yy, f_xy = coef
        det = 4 * d_xx * e_yy - f_xy * f_xy
        ok = (det > 1e-9) & (d_xx < 0) & (e_yy < 0)
        safe = torch.where(ok, det, torch.ones_like(det))
        off_x = torch.where(ok, (f_xy * c_y - 2 * e_yy * b_x) / safe, torch.zeros_like(det))
        off_y = torch.where(ok, (f_xy * b_x - 2 * d_xx * c_y) / safe, torch.zeros_like(det))
        sub[0, r0:r1] = iy.to(torch.float32) - s + off_y.clamp(-1.0, 1.0)
        sub[1, r0:r1] = ix.to(torch.float32) - s + off_x.clamp(-1.0, 1.0)

    for r0 in range(0, ny, band_rows):
        if cancel is not None and cancel():
            raise CancelledError("tracking cancelled")
        band(r0, min(r0 + band_rows, ny))

    dy_px = sub[0]
    dx_px = sub[1]
    iy_all = peak // (2 * s + 1) - s
    ix_all = peak % (2 * s + 1) - s
    on_edge = (iy_all.abs() == s) | (ix_all.abs() == s)
    # matched reference window statistics at the integer peak
    rows = torch.arange(ny, device=dev)[:, None] + s - iy_all
    cols = torch.arange(nx, device=dev)[None, :] + s - ix_all
    ref_mean = r_mean_all[rows, cols]
    ref_std = r_std_all[rows, cols]

    dx = dx_px.cpu().numpy()
    dy = dy_px.cpu().numpy()
    quality = zncc_best.cpu().numpy()
    valid = ~on_edge.cpu().numpy() & (quality >= min_quality)
    valid &= _consistent(dx, dy, valid)
    dx, dy = inpaint([dx, dy], valid)
    offset_n = float(sample.mean())
    offset_r = float(reference.mean())
    return TrackResult(
        dx_px=dx.astype(np.float32),
        dy_px=dy.astype(np.float32),
        quality=quality.astype(np.float32),
        valid=valid,
        sample_mean=(n_mean.cpu().numpy() + offset_n).astype(np.float32),
        sample_std=n_std.cpu().numpy().astype(np.float32),
        reference_mean=(ref_mean.cpu().numpy() + offset_r).astype(np.float32),
        reference_std=ref_std.cpu().numpy().astype(np.float32),
    )


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


def _consistent(dx: np.ndarray, dy: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """False where a shift differs from the median of its valid 3×3 neighbours by more than
    OUTLIER_PX, or where fewer than 3 of its 8 neighbours are valid (an isolated match in a
    flagged region is more likely a false peak than the truth)."""
    torch = _torch()
    out = np.ones(dx.shape, bool)
    for comp in (dx, dy):
        t = torch.from_numpy(np.where(valid, comp, np.nan).astype(np.float32))
        t = torch.nn.functional.pad(t[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
        patches = t.unfold(0, 3, 1).unfold(1, 3, 1).reshape(*comp.shape, 9)
        med = torch.nanmedian(patches, dim=-1).values.numpy()
        out &= ~(np.abs(np.nan_to_num(comp - med)) > OUTLIER_PX)
    v = np.pad(valid, 1, mode="edge").astype(np.int8)
    neighbours = sum(
        v[1 + oy : 1 + oy + valid.shape[0], 1 + ox : 1 + ox + valid.shape[1]]
        for oy in (-1, 0, 1)
        for ox in (-1, 0, 1)
        if oy or ox
    )
    return out & (neighbours >= 3)


def inpaint(values, valid: np.ndarray):
    """Fill ``values`` (an array, or a list of arrays sharing one mask) where ``valid`` is False.

    Each hole pixel takes the value of its nearest valid pixel (Euclidean distance
    transform, computed once for all arrays), then hole pixels are smoothed with a 5 × 5 mean
    of that filled image so the fill has no Voronoi steps; valid pixels keep their values.
    """
    from scipy.ndimage import distance_transform_edt, uniform_filter

    arrays = values if isinstance(values, list) else [values]
    if valid.all():
        out = [np.asarray(a, np.float32) for a in arrays]
    elif not valid.any():
        out = [np.zeros(np.shape(a), np.float32) for a in arrays]
    else:
        iy, ix = distance_transform_edt(~valid, return_distances=False, return_indices=True)
        out = []
        for a in arrays:
            filled = np.asarray(a, np.float32)[iy, ix]
            smooth = uniform_filter(filled, size=5, mode="nearest")
            out.append(np.where(valid, a, smooth).astype(np.float32))
    return out if isinstance(values, list) else out[0]


# --- parameter advice ------------------------------------------------------------------------
def speckle_size_px(reference: np.ndarray) -> float:
    """Speckle size: FWHM (px) of the reference's normalised autocorrelation along x and y."""
    r = np.asarray(reference, dtype=np.float64)
    r = r - r.mean()
    spec = np.abs(np.fft.rfft2(r)) ** 2
    ac = np.fft.irfft2(spec, s=r.shape)
    ac /= ac[0, 0]
    widths = []
    for prof in (ac[0, : r.shape[1] // 2], ac[: r.shape[0] // 2, 0]):
        below = np.nonzero(prof < 0.5)[0]
        if below.size == 0:
            widths.append(float(len(prof)))
            continue
        i = int(below[0])
        # linear interpolation of the half-maximum crossing; FWHM = 2 × half width
        x = i - 1 + (prof[i - 1] - 0.5) / (prof[i - 1] - prof[i])
        widths.append(2.0 * x)
    return float(np.mean(widths))


def speckle_visibility(reference: np.ndarray) -> float:
    """Visibility std / mean of the reference speckle (dimensionless)."""
    r = np.asarray(reference, dtype=np.float64)
    return float(r.std() / r.mean())


def suggest_parameters(
    reference: np.ndarray, sample: np.ndarray | None = None, max_shift_px: float | None = None
) -> dict[str, float | int]:
    """Suggest ``window_px`` and ``search_px`` from the speckle size and the expected shift.

    The window holds about 2.5 speckle grains across (odd, 7–31 px), enough for a distinct
    correlation peak in a single shot. The search range is the expected largest shift + 2 px
    (at most ``MAX_SUGGESTED_SEARCH``); without ``max_shift_px`` and with a ``sample``, the
    largest shift is the 98th percentile of a quick coarse tracking of a central crop
    (search ±8 px).
    """
    ref = np.asarray(reference if np.ndim(reference) == 2 else reference[0], dtype=np.float32)
    size = speckle_size_px(ref)
    window = int(np.clip(round(2.5 * size), 7, 31))
    window += 1 - window % 2
    if max_shift_px is None and sample is not None:
        smp = np.asarray(sample if np.ndim(sample) == 2 else sample[0], dtype=np.float32)
        ny, nx = ref.shape
        c = min(ny, nx, 256)
        y0, x0 = (ny - c) // 2, (nx - c) // 2
        crop = (slice(y0, y0 + c), slice(x0, x0 + c))
        coarse_search = min(8, (c - window) // 2 - 1)
        res = track(smp[crop], ref[crop], window_px=window, search_px=coarse_search)
        mag = np.hypot(res.dx_px, res.dy_px)[res.valid]
        # the 98th percentile: the few largest shifts sit in the outermost pixel of sharp
        # rims, where the window averages them anyway and a wide search only adds false peaks
        max_shift_px = float(np.percentile(mag, 98)) if mag.size else 3.0
    search = 5 if max_shift_px is None else int(np.clip(math.ceil(max_shift_px) + 2, 2, MAX_SUGGESTED_SEARCH))
    return {
        "window_px": window,
        "search_px": int(search),
        "speckle_size_px": round(size, 2),
        "visibility": round(speckle_visibility(ref), 4),
        "max_shift_px": None if max_shift_px is None else round(max_shift_px, 2),
    }
