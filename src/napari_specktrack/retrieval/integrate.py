"""Phase from its gradient: Fourier integration with mirror extension, or weighted least squares.

The gradient comes from the speckle displacement, ∂φ/∂x [rad/px] = u_x · Geometry.
phase_gradient_per_shift (k p² / (z M)), see :func:`displacement_to_gradient`.

Methods (``INTEGRATION_METHODS``):

``frankot-chellappa``
    Least-squares projection onto integrable fields in Fourier space,
    Φ̂ = (−i qx Ĝx − i qy Ĝy) / (qx² + qy²), on the anti-symmetric 2 × 2 mirror extension of
    the gradient field (Bon et al., Appl. Opt. 2012) so that the borders neither wrap nor
    bias the result.
``kottler``
    Φ̂ = F[gx + i gy] / (i (qx + i qy)) on the same extension: the complex-field form; it
    equals Frankot–Chellappa for a curl-free field and differs in how it treats curl (noise).
``weighted-least-squares``
    Minimises Σ w |∇φ − g|² with per-pixel weights (the tracking quality: flagged pixels get a
    small weight), by preconditioned conjugate gradients with the Frankot–Chellappa (DCT
    Poisson) solution as start and preconditioner. Outliers then pull on the phase much less
    than in the unweighted integrals, which spread them as long-wavelength error.

The integration constant is undetermined; :func:`set_background` fixes it so that the phase
averages zero over a background region (default: a border ring of the image).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

INTEGRATION_METHODS = ("frankot-chellappa", "kottler", "weighted-least-squares")


def displacement_to_gradient(dx_px: np.ndarray, dy_px: np.ndarray, geometry) -> tuple:
    """Phase gradient (rad/px) from the speckle displacement (px): g = u · k p² / (z M)."""
    c = geometry.phase_gradient_per_shift
    return np.asarray(dx_px, np.float64) * c, np.asarray(dy_px, np.float64) * c


def _mirror(gx: np.ndarray, gy: np.ndarray, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Anti-symmetric extension: φ is mirrored evenly, so gx is odd in x and even in y."""
    ny, nx = gx.shape
    gx_e = np.empty((2 * ny, 2 * nx), dtype)
    gy_e = np.empty((2 * ny, 2 * nx), dtype)
    gx_e[:ny, :nx] = gx
    gx_e[:ny, nx:] = -gx[:, ::-1]
    gx_e[ny:, :nx] = gx[::-1, :]
    gx_e[ny:, nx:] = -gx[::-1, ::-1]
    gy_e[:ny, :nx] = gy
    gy_e[:ny, nx:] = gy[:, ::-1]
    gy_e[ny:, :nx] = -gy[::-1, :]
    gy_e[ny:, nx:] = -gy[::-1, ::-1]
    return gx_e, gy_e


def _freqs(shape: tuple[int, int], real: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Angular frequencies (rad/px) of an FFT grid; ``real`` for an rfft2 (half) grid."""
    qy = 2 * np.pi * np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1]) if real else np.fft.fftfreq(shape[1])
    return qy, 2 * np.pi * fx[None, :]


def frankot_chellappa(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Integrate a gradient field (rad/px) → phase (rad), mirror-extended Frankot–Chellappa.

    The 2 × 2 mirror extension is never formed: its FFT is, up to phase factors, a cosine
    transform along the axes where the field is even and a sine transform where it is odd
    (half-sample symmetry), so the projection runs on DST-II / DCT-II transforms of the
    original size (≈ 6× faster than the FFTs of the extension at 1024², one thread,
    ``benchmarks/bench_kernels.py``):
    Ĉ = −(qx Ŝx + qy Ŝy) / (qx² + qy²), q = πk/N, with Ŝx the DST of gx along x and DCT
    along y (and the converse for gy), and φ = DCT⁻¹(Ĉ). It equals the FFT of the explicit
    extension at every frequency but the extension's Nyquist row, where that FFT leaves a
    component that is not mirror-symmetric (a checkerboard of up to 0.3 % of the phase range
    on white-noise gradients, < 10⁻⁵ on smooth ones); here it is zero, as the symmetry demands.
    """
    from scipy import fft

    ny, nx = gx.shape
    tx = fft.dct(fft.dst(np.asarray(gx, np.float32), type=2, axis=1, workers=-1), type=2,
                 axis=0, workers=-1)  # float32 is ample: ~1e-6 relative at 200 rad
    ty = fft.dst(fft.dct(np.asarray(gy, np.float32), type=2, axis=1, workers=-1), type=2,
                 axis=0, workers=-1)
    qx = (np.pi * np.arange(nx) / nx).astype(np.float32)[None, :]
    qy = (np.pi * np.arange(ny) / ny).astype(np.float32)[:, None]
    q2 = qx**2 + qy**2
    q2[0, 0] = 1.0
    spec = np.zeros((ny, nx), np.float32)
    spec[:, 1:] -= qx[:, 1:] * tx[:, :-1]  # DST index k − 1 holds frequency k
    spec[1:, :] -= qy[1:, :] * ty[:-1, :]
    spec /= q2
    spec[0, 0] = 0.0
    return fft.idct(fft.idct(spec, type=2, axis=0, workers=-1), type=2, axis=1,
                    workers=-1).astype(np.float64)


def kottler(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Integrate a gradient field (rad/px) with Kottler's complex form, mirror-extended."""
    from scipy import fft

    ny, nx = gx.shape
    gx_e, gy_e = _mirror(gx, gy)
    qy, qx = _freqs(gx_e.shape)
    denom = 1j * (qx + 1j * qy)
    denom[0, 0] = 1.0
    spec = fft.fft2(gx_e + 1j * gy_e, workers=-1) / denom
    spec[0, 0] = 0.0
    return np.real(fft.ifft2(spec, workers=-1))[:ny, :nx]


def _grad(phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward differences with zero flux at the far border (the adjoint pairs with _div)."""
    gx = np.zeros_like(phi)
    gy = np.zeros_like(phi)
    gx[:, :-1] = phi[:, 1:] - phi[:, :-1]
    gy[:-1, :] = phi[1:, :] - phi[:-1, :]
    return gx, gy


def _div(fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """Negative adjoint of :func:`_grad`."""
    d = np.zeros_like(fx)
    d[:, :-1] += fx[:, :-1]
    d[:, 1:] -= fx[:, :-1]
    d[:-1, :] += fy[:-1, :]
    d[1:, :] -= fy[:-1, :]
    return -d


def _poisson_dct(rhs: np.ndarray) -> np.ndarray:
    """Solve the Neumann Laplacian L φ = rhs (L = −div∘grad of the forward differences)."""
    from scipy.fft import dctn, idctn

    ny, nx = rhs.shape
    lam = (2 - 2 * np.cos(np.pi * np.arange(ny) / ny))[:, None] + (
        2 - 2 * np.cos(np.pi * np.arange(nx) / nx)
    )[None, :]
    lam[0, 0] = 1.0
    spec = dctn(rhs, type=2, norm="ortho") / lam
    spec[0, 0] = 0.0
    return idctn(spec, type=2, norm="ortho")


def weighted_least_squares(
    gx: np.ndarray,
    gy: np.ndarray,
    weights: np.ndarray,
    *,
    max_iter: int = 200,
    tol: float = 1e-5,
) -> np.ndarray:
    """Minimise Σ w (∂φ − g)² by conjugate gradients, preconditioned by the DCT Poisson solver.

    The centred gradient samples are first moved to the forward-difference grid (averages of
    neighbours), which is where this discretisation compares φ differences.
    """
    w = np.clip(np.asarray(weights, np.float64), 1e-3, None)
    # forward-difference positions sit between pixels: average the two neighbouring samples
    fx = np.zeros_like(gx, dtype=np.float64)
    fy = np.zeros_like(gy, dtype=np.float64)
    fx[:, :-1] = 0.5 * (gx[:, 1:] + gx[:, :-1])
    fy[:-1, :] = 0.5 * (gy[1:, :] + gy[:-1, :])
    wx = np.zeros_like(fx)
    wy = np.zeros_like(fy)
    wx[:, :-1] = np.minimum(w[:, 1:], w[:, :-1])
    wy[:-1, :] = np.minimum(w[1:, :], w[:-1, :])

    def apply(phi):  # A φ = −div(W ∇φ)
        a, b = _grad(phi)
        return _div(wx * a, wy * b)

    rhs = _div(wx * fx, wy * fy)
    x = frankot_chellappa(gx, gy)
    r = rhs - apply(x)
    z = _poisson_dct(r / max(wx.mean(), 1e-6))
    p = z.copy()
    rz = np.vdot(r, z).real
    norm0 = np.linalg.norm(rhs) + 1e-30
    for _ in range(max_iter):
        ap = apply(p)
        alpha = rz / (np.vdot(p, ap).real + 1e-30)
        x += alpha * p
        r -= alpha * ap
        if np.linalg.norm(r) < tol * norm0:
            break
        z = _poisson_dct(r / max(wx.mean(), 1e-6))
        rz_new = np.vdot(r, z).real
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x


def integrate(
    gx: np.ndarray,
    gy: np.ndarray,
    method: str = "frankot-chellappa",
    *,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Integrate a gradient field (rad/px) with one of :data:`INTEGRATION_METHODS`."""
    if method == "frankot-chellappa":
        return frankot_chellappa(gx, gy)
    if method == "kottler":
        return kottler(gx, gy)
    if method == "weighted-least-squares":
        return weighted_least_squares(gx, gy, np.ones_like(gx) if weights is None else weights)
    raise InputError(f"unknown integration method {method!r}; choose one of {INTEGRATION_METHODS}")


def border_mask(shape: tuple[int, int], width_px: int | None = None) -> np.ndarray:
    """A ring of ``width_px`` pixels (default 4 % of the side, at least 4) along the border."""
    ny, nx = shape
    wd = width_px if width_px is not None else max(4, round(0.04 * min(ny, nx)))
    m = np.zeros(shape, bool)
    m[:wd] = m[-wd:] = True
    m[:, :wd] = m[:, -wd:] = True
    return m


def set_background(phase: np.ndarray, background: np.ndarray | None = None) -> np.ndarray:
    """Shift ``phase`` so its mean over ``background`` (bool mask; default the border) is 0."""
    mask = border_mask(phase.shape) if background is None else np.asarray(background, bool)
    if mask.shape != phase.shape:
        raise InputError(
            f"background mask {mask.shape} must match the image {phase.shape}; draw it on the "
            f"same image"
        )
    if not mask.any():
        raise InputError("background mask is empty; select some pixels of empty beam")
    return phase - float(np.mean(phase[mask]))
