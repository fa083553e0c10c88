"""The imaging chain: membrane and sample → propagation → detector → reference/sample/in-line.

Three exposures are simulated with one membrane and one sample, as in the experiment:

- ``reference``: membrane only, propagated d_D + z to the detector;
- ``sample``: membrane, propagated d_D to the sample, times the sample, propagated z;
- ``inline``: the sample alone (no membrane): the second exposure of the double-exposure
  method, and the training target of the generator.

Wave optics throughout (physics.md "Forward model"): thin-object transmissions
exp(−i k ∫δ dz − k ∫β dz) from the analytic projected thickness, angular-spectrum propagation
on a grid ``oversample`` times finer than the detector (exp(iφ) would alias at the rim of a
POM sphere at the native pixel), then binning to the detector pixel (pixel integration).
Cone beam enters through the Fresnel scaling theorem: plane waves propagate z/M in the object
plane of pixel p/M (see :mod:`napari_specktrack.geometry`). The field simulated is larger than
the image by ``margin_px`` on each side and cropped afterwards, so nothing wraps around.

Detector: partial coherence as the source projected through the sample (Gaussian, FWHM
s·z/R1 ≈ 0.5 px by default) and the detector PSF (Gaussian σ), combined into one Gaussian
blur of the intensity, then Poisson noise at ``photons_per_px`` photons per pixel (so the
stated count sets the noise of the written image), then division by the flat field (the
images are flat-field normalised: 1 where nothing is in the beam). The membrane's own extra
source blur, s·d_D/R1 ≈ 0.2 px, is neglected against the detector PSF.

Default regime. Real sandpaper behind a scintillator/objective detector gives a reference
visibility (std/mean) of about 0.1–0.3. With σ_PSF = 1.5 px the speckle visibility is ≈ 0.2
and the in-line fringes of sharp polymer edges are not small next to it — the regime in which
the conventional tracking is measurably corrupted by the sample's own fringes and double
exposure helps (foam-probe.md, physics.md). With a sharp detector (σ ≤ 1 px, visibility ≈ 0.3)
the effect nearly vanishes; set ``detector_psf_sigma_px`` to explore it.
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.fft

from ..errors import InputError
from ..geometry import Geometry
from ..physics import propagation as prop
from ..physics.materials import optical_constants
from ..physics.theory import projected_maps
from . import phantoms as ph
from .acquisition import Acquisition
from .config import SimulationConfig
from .membrane import sandpaper_thickness

__all__ = ["PHANTOMS", "Acquisition", "SimulationConfig", "simulate"]

PHANTOMS = ("spheres", "spheres-varied", "foam", "smooth", "foaming", "rotation")


# ------------------------------------------------------------------------------------------
class _Chain:
    """The membrane-dependent half of the chain, shared by all frames of one acquisition."""

    def __init__(self, size_px: int, geometry: Geometry, config: SimulationConfig, rng):
        self.n = size_px
        self.g = geometry
        self.c = config
        self.s = config.oversample
        self.m = config.margin_px
        self.nf = (size_px + 2 * self.m) * self.s  # fine-grid samples per side
        self.dxf = geometry.object_pixel_size_m / self.s  # fine-grid spacing (m)
        self.wl = geometry.wavelength_m
        self.z = geometry.effective_distance_m
        t0 = time.perf_counter()
        grains = optical_constants(config.grain_material, geometry.energy_keV)
        t = sandpaper_thickness(
            (self.nf, self.nf),
            self.dxf,
            rng,
            grain_diameter_m=config.grain_diameter_m,
            grain_diameter_sd_m=config.grain_diameter_sd_m,
            layers=config.membrane_layers,
        )
        k = geometry.wavenumber_per_m
        wave = _transmission(-k * grains.delta * t, 0.5 * grains.mu_total_per_m * t)
        del t
        spec = scipy.fft.fft2(wave, workers=-1, overwrite_x=True)
        del wave
        # reference: the membrane propagated d_D + z
        ref_spec = spec.copy()
        prop.apply_transfer_inplace(ref_spec, self.dxf, self.wl, config.membrane_distance_m + self.z)
        self.reference_fine = self._detect(scipy.fft.ifft2(ref_spec, workers=-1, overwrite_x=True))
        del ref_spec
        # the membrane's wave arriving at the sample plane
        prop.apply_transfer_inplace(spec, self.dxf, self.wl, config.membrane_distance_m)
        self.membrane_at_sample = scipy.fft.ifft2(spec, workers=-1, overwrite_x=True)
        self.seconds_membrane = time.perf_counter() - t0
        self.aliased_steps = 0  # fine-grid phase steps > π seen in the image area (x direction)
        self.steps_checked = 0

    def _detect(self, wave: np.ndarray) -> np.ndarray:
        """|ψ|² binned to detector pixels (float64, with margin)."""
        inten = np.abs(wave) ** 2 if wave.dtype != np.complex64 else _abs2(wave)
        return prop.bin_image(inten, self.s).astype(np.float64)

    def sample_images(self, phantom: dict) -> dict[str, np.ndarray]:
        """Noise-free detector images (with margin) and truth (cropped) for one sample state."""
        phase, atten = projected_maps(
            phantom,
            self.g,
            (self.nf, self.nf),
            oversample=self.s,
            origin_yx_px=(-self.m, -self.m),
            dtype=np.float32,
        )
        truth = self._truth(phase, atten)
        atten *= 0.5  # intensity attenuation → amplitude
        obj = _transmission(phase, atten)
        del phase, atten
        inline = self._detect(prop.propagate(obj, self.z, self.dxf, self.wl, method=self.c.propagator))
        obj *= self.membrane_at_sample
        sample = self._detect(
            prop.propagate(obj, self.z, self.dxf, self.wl, method=self.c.propagator, overwrite=True)
        )
        return {"inline": inline, "sample": sample, **truth}

    def _truth(self, phase: np.ndarray, atten: np.ndarray) -> dict[str, np.ndarray]:
        """Pixel-averaged truth on the cropped image, computed in bands of rows (bounded memory)."""
        s, m, n = self.s, self.m, self.n
        gps = self.g.phase_gradient_per_shift
        out = {k: np.empty((n, n)) for k in ("truth_phase", "truth_transmission", "truth_dx", "truth_dy")}
        band = 64  # detector rows per band
        c0 = m * s
        for r0 in range(0, n, band):
            r1 = min(r0 + band, n)
            f0, f1 = c0 + r0 * s, c0 + r1 * s
            cols = slice(c0, c0 + n * s)
            ph = phase[f0 - 1 : f1 + 1, c0 - 1 : c0 + n * s + 1].astype(np.float64)
            out["truth_phase"][r0:r1] = prop.bin_image(ph[1:-1, 1:-1], s)
            out["truth_transmission"][r0:r1] = prop.bin_image(
                np.exp(-atten[f0:f1, cols].astype(np.float64)), s
            )
            # central differences on the fine grid, in rad per detector pixel, then averaged
            gy = (ph[2:, 1:-1] - ph[:-2, 1:-1]) * (0.5 * s)
            gx = (ph[1:-1, 2:] - ph[1:-1, :-2]) * (0.5 * s)
            out["truth_dy"][r0:r1] = prop.bin_image(gy, s) / gps
            out["truth_dx"][r0:r1] = prop.bin_image(gx, s) / gps
            # sampling check: fine-grid phase steps above π alias in exp(iφ)
            steps = np.abs(np.diff(ph[1:-1, 1:-1], axis=1))
            self.aliased_steps += int(np.count_nonzero(steps > math.pi))
            self.steps_checked += steps.size
        out["truth_darkfield"] = np.ones((n, n))
        return out

    def finish(self, image: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Blur (source + PSF), noise, crop and flat-field normalise one detector image.

        ``rng=None``: no photon noise (the noise-free truth of that image).
        """
        sigma = math.hypot(self.g.source_blur_sigma_px, self.c.detector_psf_sigma_px)
        img = prop.gaussian_blur(image, sigma)
        m, n = self.m, self.n
        img = img[m : m + n, m : m + n]
        if self.c.photons_per_px is not None and rng is not None:
            lam = np.clip(img, 0, None) * self.c.photons_per_px
            img = rng.poisson(lam) / self.c.photons_per_px
        return img.astype(np.float32)


def _transmission(phase: np.ndarray, log_amplitude_loss: np.ndarray) -> np.ndarray:
    """exp(i·phase − loss) as complex64, in float32 bands (no full-size temporaries)."""
    out = np.empty(phase.shape, np.complex64)
    band = 512
    for r0 in range(0, phase.shape[0], band):
        sl = slice(r0, r0 + band)
        ph = np.asarray(phase[sl], dtype=np.float32)
        amp = np.exp(-np.asarray(log_amplitude_loss[sl], dtype=np.float32))
        out.real[sl] = amp * np.cos(ph)
        out.imag[sl] = amp * np.sin(ph)
    return out


def _abs2(wave: np.ndarray) -> np.ndarray:
    return np.square(wave.real) + np.square(wave.imag)


def simulate(
    phantom: str | dict = "spheres",
    size_px: int = 256,
    *,
    seed: int = 0,
    geometry: Geometry | None = None,
    config: SimulationConfig | None = None,
    frames: int = 1,
    angles_deg: np.ndarray | None = None,
    progress=None,
) -> Acquisition:
    """Simulate an acquisition of a phantom, with its truth.

    Parameters
    ----------
    phantom
        ``"spheres"``, ``"spheres-varied"`` (sphere sizes independent of the frame, optional
        off-centre tube), ``"foam"``, ``"smooth"``, ``"foaming"`` (a time series of ``frames``
        frames at 20 frames/s), ``"rotation"`` (the spheres phantom at ``angles_deg``, default
        ``frames`` angles over [0°, 180°)), or a phantom dict in the ``phantom.json`` schema.
    size_px
        Image side in detector pixels (square images).
    seed
        Seed of every random choice (phantom, membrane, noise): same seed, same images.
    geometry, config
        The imaging geometry (default: the paper's) and the simulation knobs.
    progress
        Optional callable ``progress(done, total)`` called after each frame.
    """
    geometry = geometry or Geometry()
    config = config or SimulationConfig()
    if not isinstance(geometry, Geometry):
        raise InputError("geometry must be a napari_specktrack.Geometry")
    n = ph._check_size(size_px)
    if n * config.oversample > 16384:
        raise InputError(
            f"size {n} px × oversample {config.oversample} exceeds the 16384-sample fine grid "
            f"this simulator supports; reduce size_px or oversample"
        )
    rng = np.random.default_rng(seed)
    phantom_rng, membrane_rng, noise_rng = (np.random.default_rng(s) for s in rng.spawn(3))

    if isinstance(phantom, dict):
        desc = phantom
        states = [phantom]
    elif phantom == "spheres":
        desc = ph.spheres_phantom(n, phantom_rng)
        states = [desc]
    elif phantom == "spheres-varied":
        desc = ph.spheres_varied_phantom(n, phantom_rng)
        states = [desc]
    elif phantom == "foam":
        desc = ph.foam_phantom(n, phantom_rng, geometry)
        states = [desc]
    elif phantom == "smooth":
        desc = ph.smooth_phantom(n, phantom_rng, geometry)
        states = [desc]
    elif phantom == "foaming":
        desc = ph.foaming_phantoms(n, frames, phantom_rng, geometry)
        states = [{"medium": desc["medium"], "objects": f["objects"]} for f in desc["frames"]]
    elif phantom == "rotation":
        base = ph.spheres_phantom(n, phantom_rng)
        if angles_deg is None:
            angles_deg = np.arange(frames) * 180.0 / frames
        angles = np.asarray(angles_deg, dtype=float)
        desc = {**base, "name": "rotation", "angles_deg": angles.tolist(),
                "rotation_axis_x_px": (n - 1) / 2.0}
        states = [ph.rotate_spheres(base, a, n) for a in angles]
    else:
        raise InputError(f"unknown phantom {phantom!r}; choose one of {PHANTOMS} or pass a dict")

    t0 = time.perf_counter()
    chain = _Chain(n, geometry, config, membrane_rng)
    reference = chain.finish(chain.reference_fine, noise_rng)
    results: dict[str, list[np.ndarray]] = {}
    for i, state in enumerate(states):
        imgs = chain.sample_images(state)
        imgs["sample"] = chain.finish(imgs["sample"], noise_rng)
        imgs["truth_inline"] = chain.finish(imgs["inline"], None)  # draws nothing from noise_rng
        imgs["inline"] = chain.finish(imgs["inline"], noise_rng)
        for key, val in imgs.items():
            results.setdefault(key, []).append(val.astype(np.float32))
        if progress is not None:
            progress(i + 1, len(states))
    stacked = len(states) > 1 or phantom in ("foaming", "rotation")
    out = {k: (np.stack(v) if stacked else v[0]) for k, v in results.items()}
    return Acquisition(
        reference=reference,
        sample=out.pop("sample"),
        inline=out.pop("inline"),
        geometry=geometry,
        phantom=desc,
        config=config,
        seed=seed,
        info={
            "seconds": round(time.perf_counter() - t0, 3),
            "size_px": n,
            # fraction of fine-grid neighbour pairs whose phase step exceeds π (aliased):
            # confined to the outermost fraction of a pixel at sphere rims at oversample 4
            "aliased_fraction": chain.aliased_steps / max(chain.steps_checked, 1),
        },
        **out,
    )
