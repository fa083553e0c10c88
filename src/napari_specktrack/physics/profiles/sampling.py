"""Where a line profile is sampled, the measured profile, the exact profile of a known phantom,
and which frames of a stack to overlay."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InputError
from ...geometry import Geometry
from ..theory import _material_contrast, _thickness_compact
from .model import across_offsets_px, line_frame


@dataclass(frozen=True)
class LineSamples:
    """Where a profile of a line is sampled.

    Attributes
    ----------
    distance_px
        Distance of each sample from the line's start, pixels; ``n`` = ⌈L + 1⌉ samples from
        the start to the end point inclusive (spacing ≤ 1 px), as ``profile_line``.
    y_px, x_px
        Image coordinates (pixels) of every sample, shape (n, width): ``width`` parallel lines
        1 px apart, centred on the line.
    """

    distance_px: np.ndarray
    y_px: np.ndarray
    x_px: np.ndarray


def line_samples(
    p0_yx_px: Sequence[float], p1_yx_px: Sequence[float], width_px: int = 1
) -> LineSamples:
    """Sample positions of a profile from ``p0`` to ``p1`` (pixels), ``width_px`` wide."""
    p0, e, length = line_frame(p0_yx_px, p1_yx_px)
    n = math.ceil(length + 1)
    t = np.linspace(0.0, length, n)
    across = across_offsets_px(width_px)
    normal = np.array([-e[1], e[0]])
    y = p0[0] + t[:, None] * e[0] + across[None, :] * normal[0]
    x = p0[1] + t[:, None] * e[1] + across[None, :] * normal[1]
    return LineSamples(t, y, x)


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise InputError(
            f"{name} must be a 2-D image (y, x), got shape {arr.shape}; pick one frame of a stack"
        )
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


def sample_line(
    image: np.ndarray,
    p0_yx_px: Sequence[float],
    p1_yx_px: Sequence[float],
    *,
    width_px: int = 1,
    order: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """The profile of ``image`` along a line: (distance along the line in px, values).

    Bilinear interpolation (``order=1``) averaged over ``width_px`` parallel lines 1 px apart
    (``skimage.measure.profile_line``). Samples outside the image's pixels (beyond half a
    pixel from the edge pixel centres, on any of the parallel lines) are NaN, not reflected:
    a profile should not invent data. Fits and metrics skip them.
    """
    from skimage.measure import profile_line

    img = check_image(image).astype(np.float64, copy=False)
    samples = line_samples(p0_yx_px, p1_yx_px, width_px)
    values = profile_line(
        img, tuple(p0_yx_px), tuple(p1_yx_px), linewidth=int(width_px), order=order,
        mode="nearest", reduce_func=np.mean,
    )
    ny, nx = img.shape
    outside = ((samples.y_px < -0.5) | (samples.y_px > ny - 0.5)
               | (samples.x_px < -0.5) | (samples.x_px > nx - 0.5)).any(axis=1)
    values[outside] = np.nan
    if values.shape[0] != samples.distance_px.shape[0]:  # pragma: no cover - skimage contract
        raise RuntimeError("profile_line returned an unexpected number of samples")
    return samples.distance_px, values


# --- theory of a known phantom ----------------------------------------------------------------


def _pixel_phase(phantom: Mapping[str, Any], geometry: Geometry, iy: np.ndarray, ix: np.ndarray,
                 oversample: int) -> np.ndarray:
    """Pixel-averaged phase (rad) at integer pixels (iy, ix), exactly as ``theory.phase_map``."""
    s = int(oversample)
    sub = (np.arange(s) + 0.5) / s - 0.5
    y = iy[..., None, None] + sub[:, None]
    x = ix[..., None, None] + sub[None, :]
    contrast = _material_contrast(phantom, geometry.energy_keV)
    acc = np.zeros(np.broadcast_shapes(y.shape, x.shape))
    for obj in phantom.get("objects", []):
        d, _ = contrast(obj)
        acc += d * _thickness_compact(obj, y, x)
    phase = -geometry.wavenumber_per_m * geometry.object_pixel_size_m * acc
    return phase.mean(axis=(-2, -1))


def theory_from_phantom(
    phantom: Mapping[str, Any],
    geometry: Geometry,
    p0_yx_px: Sequence[float],
    p1_yx_px: Sequence[float],
    *,
    width_px: int = 1,
    oversample: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact theoretical profile (rad) of a phantom along a line, as the image shows it.

    The phase of every phantom object (any shape of ``phantom.json``) averaged over each
    pixel (``oversample`` × ``oversample`` sub-samples, the definition of the simulator's
    ``truth_phase``), then interpolated bilinearly at the profile's samples and averaged
    over its width — the same operations :func:`sample_line` applies to an image. The
    profile of a truth image therefore equals this to rounding error.

    Returns (distance along the line in px, phase in rad).
    """
    samples = line_samples(p0_yx_px, p1_yx_px, width_px)
    y, x = samples.y_px, samples.x_px
    y0, x0 = np.floor(y), np.floor(x)
    fy, fx = y - y0, x - x0
    out = np.zeros(y.shape)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            w = wy * wx
            used = w > 0
            if np.any(used):
                vals = _pixel_phase(phantom, geometry, (y0 + dy)[used], (x0 + dx)[used], oversample)
                out[used] += w[used] * vals
    return samples.distance_px, out.mean(axis=1)



def time_nodes(
    n_frames: int,
    frame_rate_hz: float,
    every_ms: float,
    *,
    start_ms: float = 0.0,
    stop_ms: float | None = None,
) -> list[tuple[int, float]]:
    """Frames of a stack to overlay, one every ``every_ms`` milliseconds.

    Frame i is taken at t = i / frame_rate_hz. Returns (frame index, time in ms) pairs for
    t = start, start + every, … ≤ stop (default: the last frame), each rounded to the nearest
    frame, without repeats.
    """
    if n_frames < 1:
        raise InputError("the stack has no frames")
    if not (math.isfinite(frame_rate_hz) and frame_rate_hz > 0):
        raise InputError(f"frame rate must be positive (frames per second), got {frame_rate_hz!r}")
    if not (math.isfinite(every_ms) and every_ms > 0):
        raise InputError(f"time step must be positive (ms), got {every_ms!r}")
    period_ms = 1000.0 / frame_rate_hz
    last_ms = (n_frames - 1) * period_ms
    stop = last_ms if stop_ms is None else min(float(stop_ms), last_ms)
    out: list[tuple[int, float]] = []
    seen: set[int] = set()
    t = float(start_ms)
    while t <= stop + 1e-9:
        i = round(t / period_ms)
        if 0 <= i < n_frames and i not in seen:
            seen.add(i)
            out.append((i, i * period_ms))
        t += every_ms
    if not out:
        raise InputError(f"no frame between {start_ms} ms and {stop} ms; check start/stop times")
    return out

