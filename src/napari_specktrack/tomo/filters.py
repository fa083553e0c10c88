"""FBP filters: the Ram-Lak ramp built from its spatial kernel, times a window.

The ramp is the discrete Fourier transform of the band-limited spatial Ram-Lak kernel on the
padded detector grid (Kak & Slaney 1988, ch. 3 eq. 61): h(0) = 1/4, h(n) = −1/(πn)² for odd
n, 0 for even n ≠ 0, so that its spectrum is 2·|f| in the limit (f in cycles per detector
pixel, |f| ≤ 1/2) without the DC bias of a sampled |f|. The windows are functions of f:

=============  ======================
``ramp``       1
``shepp-logan``  sinc(f) = sin(πf) / (πf)   (the default, as Yu et al. use)
``cosine``     cos(πf)
``hann``       (1 + cos 2πf) / 2
=============  ======================

These are scikit-image's ``iradon`` filters (ramp, Shepp-Logan and cosine exactly on the same
padded length; skimage's Hann is ``fftshift(np.hanning(n))``, which differs from the form
above by O(1/n)). The padded length here is the smallest power of two ≥ 2·n_det (at least
64), enough that the circular convolution of the FFT never wraps one edge of a projection
onto the other; skimage pads to a power of two ≥ 2·⌈√2·n_det⌉, which changes the truncated
kernel's tail and the result by ~1e-4 of the image range.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

#: filter names, default first
FILTERS = ("shepp-logan", "ramp", "cosine", "hann")
DEFAULT_FILTER = "shepp-logan"


def check_filter(name: str) -> str:
    """Return the canonical filter name or raise :class:`InputError`."""
    key = str(name).strip().lower().replace("_", "-").replace(" ", "-")
    if key in ("shepp-logan", "shepplogan", "sl"):
        return "shepp-logan"
    if key in ("ramp", "ram-lak", "ramlak"):
        return "ramp"
    if key in ("hann", "hanning"):
        return "hann"
    if key == "cosine":
        return "cosine"
    raise InputError(f"unknown FBP filter {name!r}; use one of {', '.join(FILTERS)}")


def padded_length(n_det: int) -> int:
    """FFT length for ``n_det`` detector pixels: the smallest power of two ≥ 2·n_det, ≥ 64."""
    return max(64, 1 << math.ceil(math.log2(2 * int(n_det))))


def fourier_filter(n_padded: int, name: str = DEFAULT_FILTER) -> np.ndarray:
    """The filter on the ``rfft`` frequencies of a length-``n_padded`` signal, float64.

    Returns n_padded // 2 + 1 real values: 2·|f| (the Ram-Lak spectrum, exactly as computed
    from its spatial kernel) times the window of ``name``; dimensionless, so a projection
    in radians stays in radians per pixel once multiplied by the angular step (see fbp.py).
    """
    n = int(n_padded)
    if n < 2 or n % 2:
        raise InputError(f"padded filter length must be even and ≥ 2, got {n}")
    name = check_filter(name)
    kernel = np.zeros(n)
    kernel[0] = 0.25
    lags = np.arange(1, n // 2 + 1, 2)  # odd lags, then mirrored (circular grid)
    kernel[lags] = -1.0 / (math.pi * lags) ** 2
    kernel[n - lags] = kernel[lags]
    ramp = 2.0 * np.fft.rfft(kernel).real
    f = np.arange(n // 2 + 1) / n  # cycles per pixel, 0 … 1/2
    if name == "shepp-logan":
        window = np.sinc(f)  # numpy's sinc is sin(πf)/(πf)
    elif name == "cosine":
        window = np.cos(math.pi * f)
    elif name == "hann":
        window = 0.5 * (1.0 + np.cos(2.0 * math.pi * f))
    else:
        window = np.ones_like(f)
    return ramp * window


def filter_rows(rows, name: str = DEFAULT_FILTER, *, scale: float = 1.0):
    """Filter a torch tensor (..., n_det) along its last axis; returns float32 (..., n_det).

    Zero-pads each row to :func:`padded_length`, multiplies its ``rfft`` by
    :func:`fourier_filter` × ``scale`` and crops back to n_det. Works on any torch device.
    """
    import torch

    n_det = rows.shape[-1]
    n_pad = padded_length(n_det)
    filt = torch.as_tensor(fourier_filter(n_pad, name) * float(scale), dtype=torch.float32,
                           device=rows.device)
    spectrum = torch.fft.rfft(rows.to(torch.float32), n=n_pad, dim=-1)
    spectrum *= filt
    return torch.fft.irfft(spectrum, n=n_pad, dim=-1)[..., :n_det].contiguous()
