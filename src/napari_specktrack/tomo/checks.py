"""Input checks of the reconstruction, run before anything is computed.

Every failure raises :class:`~napari_specktrack.errors.InputError` with one line that names
the input and the fix.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

#: fewest projections accepted (FBP needs of the order of N·π/2 for an N-pixel detector)
MIN_ANGLES = 8
#: fewest detector columns accepted
MIN_COLUMNS = 8
#: angular spans (degrees) FBP weights correctly: every line measured once, or twice
SPANS_DEG = (180.0, 360.0)
#: rows scanned at a time when checking a stack for NaN/inf (bounded memory)
_CHECK_ROWS = 16


def projection_angles_deg(start_deg: float, stop_deg: float, n: int) -> np.ndarray:
    """``n`` evenly spaced angles in degrees from ``start_deg`` (included) to ``stop_deg``
    (excluded): 360 projections over 0 180 are 0, 0.5, …, 179.5°."""
    return float(start_deg) + (float(stop_deg) - float(start_deg)) * np.arange(int(n)) / int(n)


def check_angles(angles_deg, n_projections: int) -> np.ndarray:
    """The projection angles in degrees (float64, one per projection).

    ``angles_deg`` is either ``(START, STOP)`` (half-open, evenly spaced, see
    :func:`projection_angles_deg`) or the angles themselves, evenly spaced, covering 180° or
    360° either half-open (step × count = span) or with both ends (step × (count − 1) =
    span, as many beamline files record them; :func:`angle_weights` then halves the ends).
    """
    try:
        a = np.asarray(angles_deg, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InputError(f"angles_deg {angles_deg!r} must be numbers in degrees: (START, STOP) "
                         f"or one angle per projection") from exc
    n = int(n_projections)
    if n < MIN_ANGLES:
        raise InputError(f"too few angles: {n} projection(s); FBP needs at least {MIN_ANGLES} "
                         f"(typically ~1.5 × the detector width over 180°)")
    if not np.all(np.isfinite(a)):
        raise InputError(f"angles_deg {a.tolist()[:4]} holds NaN or inf; give finite degrees")
    if a.size == 2:
        a = projection_angles_deg(a[0], a[1], n)
    elif a.size != n:
        raise InputError(f"angles_deg has {a.size} values but the stack has {n} projections; "
                         f"give (START, STOP) in degrees or one angle per projection")
    step = (a[-1] - a[0]) / (n - 1)
    if step == 0 or np.abs(np.diff(a) - step).max() > 1e-3 * abs(step):
        raise InputError("angles_deg are not evenly spaced; FBP here needs a constant step "
                         "(give (START, STOP) for evenly spaced angles)")
    if _span(a) is None:
        raise InputError(f"the {n} angles from {a[0]:g}° in steps of {step:g}° span "
                         f"{abs(step) * n:g}° (STOP excluded); FBP needs 180° or 360° "
                         f"(e.g. --angles-deg 0 180 for 0, …, 180°−step)")
    return a


def _span(angles: np.ndarray) -> tuple[float, bool] | None:
    """(span in degrees, both ends included?) of evenly spaced angles, or None if neither
    half-open nor closed they cover 180° or 360°."""
    n, step = angles.size, abs(angles[1] - angles[0])
    for span in SPANS_DEG:
        if abs(step * n - span) <= 1e-4 * span:
            return span, False
        if abs(step * (n - 1) - span) <= 1e-4 * span:
            return span, True
    return None


def angle_weights(angles_deg: np.ndarray) -> np.ndarray:
    """FBP weight of each projection (radians): the angular step / 2 (the ramp filter is
    2|f|) divided by the number of times the span covers each line (1 for 180°, 2 for 360°);
    the two end projections count half when both ends are included (trapezoid rule). For
    half-open angles this is π / (2·n_angles), as skimage's iradon."""
    span, closed = _span(angles_deg)
    n = angles_deg.size
    step_rad = np.deg2rad(span) / (n - 1 if closed else n)
    w = np.full(n, step_rad / 2.0 / (span / 180.0))
    if closed:
        w[[0, -1]] *= 0.5
    return w


def check_stack(projections, *, ndim: int = 3, name: str = "projections") -> tuple[int, ...]:
    """Shape of a projection stack (angles, rows, columns), or of a sinogram (angles, columns)
    with ``ndim=2``; dtype must be real. Values are checked by :func:`check_finite`."""
    shape = tuple(getattr(projections, "shape", np.shape(projections)))
    layout = "(angles, rows, columns)" if ndim == 3 else "(angles, columns)"
    if len(shape) != ndim:
        raise InputError(f"{name} must be {ndim}-D {layout}, got shape {shape}; "
                         f"stack one projection per angle")
    kind = np.dtype(getattr(projections, "dtype", np.float64)).kind
    if kind not in "iuf":
        raise InputError(f"{name} has dtype {projections.dtype}; projections must be real numbers")
    if shape[-1] < MIN_COLUMNS:
        raise InputError(f"{name} has {shape[-1]} columns; the detector needs ≥ {MIN_COLUMNS}")
    if any(s == 0 for s in shape):
        raise InputError(f"{name} is empty (shape {shape})")
    return shape


def check_finite(block, *, what: str = "projections") -> None:
    """Raise if ``block`` (a numpy array) holds NaN or inf."""
    if block.dtype.kind == "f" and not np.isfinite(block).all():
        bad = int(np.count_nonzero(~np.isfinite(block)))
        raise InputError(f"{what} hold {bad} NaN/inf value(s); fill or crop them (e.g. the "
                         f"retrieval's invalid pixels) before reconstructing")


def check_finite_rows(projections, row_start: int, row_stop: int) -> None:
    """NaN/inf check of rows [row_start, row_stop) of an in-memory stack, a few rows at a time."""
    for r in range(row_start, row_stop, _CHECK_ROWS):
        r1 = min(r + _CHECK_ROWS, row_stop)
        check_finite(np.asarray(projections[:, r:r1, :]), what=f"projection rows {r}–{r1 - 1}")


def check_rows(rows, n_rows: int) -> tuple[int, int]:
    """Half-open row range (R0, R1) of the stack to reconstruct; None = all rows."""
    if rows is None:
        return 0, int(n_rows)
    try:
        r0, r1 = (int(v) for v in rows)
    except (TypeError, ValueError) as exc:
        raise InputError(f"rows {rows!r} must be two integers R0 R1 (half-open)") from exc
    if not 0 <= r0 < r1 <= n_rows:
        raise InputError(f"rows {r0} {r1} are outside the stack's 0…{n_rows} rows; give "
                         f"0 ≤ R0 < R1 ≤ {n_rows} (R1 excluded)")
    return r0, r1


def check_center(center_px, n_columns: int) -> float:
    """A manual centre of rotation: a detector column (0-based, sub-pixel) on the detector."""
    try:
        c = float(center_px)
    except (TypeError, ValueError) as exc:
        raise InputError(f"center_px {center_px!r} must be a number (a detector column)") from exc
    if not math.isfinite(c) or not 0.0 <= c <= n_columns - 1:
        raise InputError(f"center_px {center_px!r} is outside the detector (columns 0…"
                         f"{n_columns - 1}); give the rotation axis as a 0-based column, e.g. "
                         f"{(n_columns - 1) / 2:g} for the middle")
    return c


def check_device(device) -> str:
    """The torch device string to run on ("auto", "cpu", "cuda", "cuda:N", …), checked by
    :func:`napari_specktrack.devices.resolve_device` (raises ``DeviceError``)."""
    from ..devices import resolve_device

    return resolve_device("cpu" if device is None else device)
