"""The physics and spectra behind :mod:`.fusion`: the in-line forward model and the Wiener weights.

All frequencies are in cycles per image pixel (the object-plane pixel p/M: the detector grid
back-projected, same pixel count); phases in radians; intensities in flat-field units.

Forward model (near field, Fresnel scaling: plane wave over z_eff = z/M on the p/M grid). The
in-line image of a thin object with phase φ and, for a single material of known δ/β,
intensity transmission exp(a φ), a = 2β/δ (−μt = 2kβt = a φ since φ = −kδt), is

    I = G ∗ |P_z_eff[exp((a/2 + i) φ)]|²,

G the Gaussian blur of source (σ_s = ``Geometry.source_blur_sigma_px``) and detector PSF
combined, σ = √(σ_s² + σ_PSF²). It is evaluated on a 2× finer grid (the phase is interpolated
by cubic splines, :mod:`._spline_zoom`, and the intensity binned back: pixel integration),
which keeps exp(iφ) from aliasing where the phase gradient is steep. Its linearisation about a
flat phase is the transport-of-intensity equation with Paganin's absorption term,

    F[I − 1](f) ≈ T̄ · (a + h f²) · G(f) · F[φ](f),   h = 2π λ z_eff / p_obj² = 2π / N_F,

N_F the Fresnel number of one object-plane pixel (a = 0: the pure-phase TIE; physics.md
"Fusing the in-line image's phase"). This H(f) is the Jacobian of the fusion step.

A sample of several materials (POM spheres in a PE tube) takes a per pixel in the forward model
— each material's a where its own edges lie, ``FusionModel.absorption_map`` — while H keeps the
main material's a: a ray through both carries both, so no map is exact, but where a material's
edges dominate the residual its own a removes most of the absorption the model would misplace.

Spectra are ring averages over logarithmic bands of the 2-D power spectrum on the mirror-
extended (2ny × 2nx, even) grid, so nothing wraps around at the image border.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from ..geometry import Geometry
from ..physics import propagation as prop
from ._spline_zoom import zoom_cubic
from .integrate import set_background

#: Fine-grid factor of the Fresnel forward model (2: residual 4× below the linear model's on
#: the simulated spheres and foam; 4 gains nothing more on pixel-averaged phases).
UPSAMPLE = 2
#: Frequencies above this (cycles/px) hold only the in-line image's noise once the ≥ 1 px blur
#: has acted (G < 1e-2 at σ = 1 px): their mean power is the white-noise level.
NOISE_BAND_CYCLES_PER_PX = 0.45
#: Ring-average bands between 1/(2N) and the corner of the spectrum.
N_BANDS = 48
#: Pure-phase model: absorption a = 2β/δ it may miss, taken as that of light matter (δ/β ≥ 1000).
PURE_PHASE_ABSORPTION = 2.0e-3
#: Low-frequency relative error floor ρ of the tracked phase (window bound, step 3).
TRACKING_ERROR_FLOOR = 0.5
#: Width s of the tracked phase's window transfer exp(−(fW)²/2s²), measured on simulated spheres
#: and foam for windows of 7–21 px (the in-phase transfer halves at f·W ≈ 0.33).
WINDOW_TRANSFER_WIDTH = 0.29
#: The in-line phase spectrum is trusted as a prior where its SNR exceeds this and the blur
#: transfer G exceeds MIN_BLUR_TRANSFER; beyond, P̂ continues as f⁻³ (sharp edges).
PRIOR_SNR = 10.0
MIN_BLUR_TRANSFER = 0.05


def mirror(a: np.ndarray) -> np.ndarray:
    """Even 2 × 2 mirror extension (y, x) → (2y, 2x): a periodic image with no border jumps."""
    top = np.concatenate([a, a[:, ::-1]], axis=1)
    return np.concatenate([top, top[::-1]], axis=0)


def rfreq(shape: tuple[int, int]) -> np.ndarray:
    """|f| in cycles per pixel on an rfft2 grid of a real image of ``shape``."""
    fy = sfft.fftfreq(shape[0])[:, None]
    fx = sfft.rfftfreq(shape[1])[None, :]
    return np.hypot(fy, fx)


def ring_bands(f: np.ndarray, nbands: int = N_BANDS) -> np.ndarray:
    """Band index (flat) of every frequency of an rfft grid: logarithmic rings of |f| from half
    a grid step to the corner of the spectrum (cycles/px), computed once for every spectrum of
    a frame."""
    edges = np.concatenate([[0.0], np.geomspace(0.5 / max(f.shape), 0.75, nbands)])
    return np.clip(np.digitize(f, edges) - 1, 0, nbands - 1).ravel()


def ring_average(power: np.ndarray, bands: np.ndarray, nbands: int = N_BANDS) -> np.ndarray:
    """Mean of ``power`` over the rings of :func:`ring_bands`, broadcast back to every
    frequency (empty rings interpolated from their neighbours)."""
    count = np.bincount(bands, minlength=nbands)
    total = np.bincount(bands, power.ravel(), minlength=nbands)
    centres = np.arange(nbands)
    good = count > 0
    avg = np.interp(centres, centres[good], total[good] / count[good])
    return avg[bands].reshape(power.shape)


def power(spectrum: np.ndarray) -> np.ndarray:
    """|z|² of a complex spectrum (without the square root of ``abs``)."""
    return spectrum.real**2 + spectrum.imag**2


def blur_sigma_px(geometry: Geometry, detector_psf_sigma_px: float) -> float:
    """Combined Gaussian σ (px) of the source penumbra and the detector PSF."""
    return math.hypot(geometry.source_blur_sigma_px, detector_psf_sigma_px)


def tie_factor(geometry: Geometry) -> float:
    """h = 2π λ z_eff / p_obj² (per (cycles/px)²): the pure-phase TIE transfer is h f²."""
    return 2.0 * math.pi * geometry.wavelength_m * geometry.effective_distance_m / (
        geometry.object_pixel_size_m**2
    )


def forward_inline(phase_rad: np.ndarray, absorption: float | np.ndarray, geometry: Geometry,
                   sigma_px: float) -> np.ndarray:
    """In-line image (flat-field units) of ``phase_rad`` by Fresnel propagation (module doc).

    ``absorption`` is a = 2β/δ, one number or one per pixel (a map of the image's shape: a
    sample of several materials, each where its edges lie); the log-transmission a·φ is then
    interpolated like the phase. The phase is continued past the border by odd reflection
    (value and slope continuous) over a margin wider than the blur and the propagation
    spread, then cropped back.
    """
    s = UPSAMPLE
    pad = int(max(32, math.ceil(4 * sigma_px) + 16))

    def fine_grid(a: np.ndarray) -> np.ndarray:  # = scipy.ndimage.zoom(a, s, order=3, mode="nearest")
        return zoom_cubic(np.pad(a, pad, mode="reflect", reflect_type="odd"), s)

    phase = np.asarray(phase_rad, np.float64)
    fine = fine_grid(phase)
    log_amplitude = (0.5 * float(absorption) * fine if np.ndim(absorption) == 0  # a·φ is linear
                     else 0.5 * fine_grid(np.asarray(absorption, np.float64) * phase))
    wave = np.exp(log_amplitude + 1j * fine).astype(np.complex64)
    del fine, log_amplitude
    out = prop.propagate(wave, geometry.effective_distance_m, geometry.object_pixel_size_m / s,
                         geometry.wavelength_m, overwrite=True)
    inten = prop.bin_image((out.real**2 + out.imag**2).astype(np.float64), s)
    inten = prop.gaussian_blur(inten, sigma_px)
    return inten[pad:-pad, pad:-pad]


def border_taper(shape: tuple[int, int], width_px: int) -> np.ndarray:
    """Weight rising as sin² from 0 at the border to 1 at ``width_px``: the in-line image there
    depends on structure outside the field that the forward model cannot know."""

    def ramp(n: int) -> np.ndarray:
        d = np.minimum(np.arange(n), np.arange(n)[::-1])
        return np.sin(0.5 * np.pi * np.clip(d / max(width_px, 1), 0.0, 1.0)) ** 2

    return ramp(shape[0])[:, None] * ramp(shape[1])[None, :]


def anchor_low_frequencies(inline: np.ndarray, sample: np.ndarray, reference: np.ndarray,
                           sigma_px: float) -> np.ndarray:
    """The in-line image with its detail above σ kept and its low frequencies replaced by those
    of sample / reference (Gaussian means over σ px: the speckle averages out, P remains)."""
    from scipy.ndimage import gaussian_filter

    def low(a):
        return gaussian_filter(a, sigma_px, mode="reflect")

    return inline - low(inline) + low(sample) / low(reference)


def window_transfer(f: np.ndarray, window_px: int, width: float) -> np.ndarray:
    """Transfer of the tracked phase through the correlation window: exp(−(f W)² / 2 s²)."""
    return np.exp(-((f * window_px) ** 2) / (2.0 * width**2))


# --- one frame ---------------------------------------------------------------------------------
@dataclass
class FusionModel:
    """Per-call constants of the fusion (see the module docstring for the symbols)."""

    geometry: Geometry
    window_px: int
    sigma_px: float
    absorption: float  # a = 2β/δ (0: pure phase): the Jacobian's, the main material's
    absorption_error: float  # Δa
    flat_field_error: float
    model_error: float
    #: a per pixel for the forward model (several materials), or None: ``absorption`` everywhere
    absorption_map: np.ndarray | None = None


def weights(R_, T_, I_, f, m: FusionModel, taper_power: float, transmission: float):
    """Jacobian H, tracking-error spectrum E and in-line error spectrum N on the rfft grid."""
    n_samples = f.shape[0] * 2 * (f.shape[1] - 1)
    bands = ring_bands(f)
    P_R = power(R_)
    S_R = ring_average(P_R, bands) / taper_power
    S_I = ring_average(power(I_), bands) / taper_power
    S_tt = ring_average(power(T_), bands)
    N_I = float(np.mean(P_R[f >= NOISE_BAND_CYCLES_PER_PX])) / taper_power
    del P_R
    f2 = f * f
    G = np.exp(-2.0 * math.pi**2 * m.sigma_px**2 * f2)
    H = transmission * (m.absorption + tie_factor(m.geometry) * f2) * G
    # prior phase spectrum P̂: the tracked one, or the in-line one where that is reliable
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        P_in = np.where(H > 0, np.maximum(S_I - N_I, 0.0) / H**2, 0.0)
    ok = ((S_I > PRIOR_SNR * N_I) & (G >= MIN_BLUR_TRANSFER) & (f > 0)
          & (tie_factor(m.geometry) * f2 >= 3.0 * m.absorption_error))
    f0 = float(f[ok].max()) if ok.any() else 0.05
    P0 = float(P_in[ok & (f >= 0.9 * f0)].max()) if ok.any() else float(S_tt.max())
    P_hat = np.where(f <= f0, np.maximum(S_tt, np.where(ok, P_in, 0.0)),
                     P0 * (np.maximum(f, 1e-9) / f0) ** -3.0)
    drift_px = min(f.shape[0], 2 * (f.shape[1] - 1)) / 8.0  # a quarter of the image side
    N = (N_I + (m.absorption_error * transmission) ** 2 * G**2 * P_hat
         + n_samples * m.flat_field_error**2 * 2 * math.pi * drift_px**2
         * np.exp(-2.0 * math.pi**2 * drift_px**2 * f2)
         + m.model_error**2 * S_I)
    N = np.maximum(N, 1e-300)
    K = window_transfer(f, m.window_px, WINDOW_TRANSFER_WIDTH)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        E = np.where(H > 0, np.maximum(S_R - N, 0.0) / H**2, 0.0)
        bound = S_tt * (TRACKING_ERROR_FLOOR**2 + (1.0 - K) ** 2) / np.maximum(K**2, 1e-300)
    E = np.minimum(np.minimum(E, P_hat), bound)
    E[0, 0] = 0.0
    return H, E, N, N_I / n_samples


def fuse_frame(phi_t: np.ndarray, inline: np.ndarray, m: FusionModel, background):
    """Correction C (rad) for one frame, and (band centres, in-line weight per band, noise RMS)."""
    ny, nx = phi_t.shape
    a = m.absorption
    taper = border_taper((ny, nx), math.ceil(4.0 * m.sigma_px))
    transmission = float(np.clip(np.mean(inline), 0.05, 1.0)) if a > 0 else 1.0
    R = inline - forward_inline(phi_t, a if m.absorption_map is None else m.absorption_map,
                                m.geometry, m.sigma_px)
    # taper to the residual's own mean, not to 0: a step between border and interior would
    # otherwise become a low-frequency phase offset along the border
    R = (R - np.sum(taper * R) / np.sum(taper)) * taper
    R_ = sfft.rfft2(mirror(R), workers=-1)
    R_[0, 0] = 0.0
    T_ = sfft.rfft2(mirror(phi_t), workers=-1)
    I_ = sfft.rfft2(mirror((inline - inline.mean()) * taper), workers=-1)
    f = rfreq((2 * ny, 2 * nx))
    H, E, N, noise_var = weights(R_, T_, I_, f, m, float(np.mean(taper**2)), transmission)
    den = H**2 * E + N
    C_ = H * E * R_ / den
    C_[0, 0] = 0.0
    C = sfft.irfft2(C_, s=(2 * ny, 2 * nx), workers=-1)[:ny, :nx]
    C = set_background(C, background)
    weight = H**2 * E / den
    edges = np.geomspace(0.5 / (2 * max(ny, nx)), 0.5, 25)
    idx = np.digitize(f, edges).ravel()  # 1 … 24 inside the bands
    centres = np.sqrt(edges[1:] * edges[:-1])
    count = np.bincount(idx, minlength=len(edges) + 1)[1:len(edges)]
    total = np.bincount(idx, weight.ravel(), minlength=len(edges) + 1)[1:len(edges)]
    with np.errstate(invalid="ignore", divide="ignore"):
        band_w = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return C, (centres, band_w, math.sqrt(noise_var))
