"""The knobs of a simulated experiment: membrane, detector, noise, grids."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import InputError


@dataclass(frozen=True)
class SimulationConfig:
    """Knobs of the simulated experiment (units in the names).

    Attributes
    ----------
    oversample
        Fine-grid samples per detector pixel along each axis (4: 0.81 µm at the default).
    margin_px
        Extra field simulated on each side, in detector pixels, cropped after propagation.
    membrane_distance_m
        Membrane → sample distance d_D in metres (the membrane sits upstream of the sample).
    grain_material, grain_diameter_m, grain_diameter_sd_m, membrane_layers
        The sandpaper (see :mod:`.membrane`).
    detector_psf_sigma_px
        Gaussian σ of the detector PSF (scintillator + optics) in detector pixels.
    photons_per_px
        Mean photons per pixel per exposure in the open beam; ``None`` for no noise.
    propagator
        ``"fresnel"`` (paraxial, default) or ``"exact"``.
    """

    oversample: int = 4
    margin_px: int = 32
    membrane_distance_m: float = 0.2
    grain_material: str = "SiC"
    grain_diameter_m: float = 8.6e-6
    grain_diameter_sd_m: float = 1.5e-6
    membrane_layers: float = 1.5
    detector_psf_sigma_px: float = 2.0
    photons_per_px: float | None = 1.0e4
    propagator: str = "fresnel"

    def __post_init__(self) -> None:
        if int(self.oversample) != self.oversample or not 1 <= self.oversample <= 8:
            raise InputError(f"oversample must be an integer 1–8, got {self.oversample!r}")
        if int(self.margin_px) != self.margin_px or self.margin_px < 0:
            raise InputError(f"margin_px must be a non-negative integer, got {self.margin_px!r}")
        for name in ("membrane_distance_m", "grain_diameter_m", "membrane_layers"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise InputError(f"SimulationConfig.{name} must be positive, got {v!r}")
        if not (math.isfinite(self.detector_psf_sigma_px) and self.detector_psf_sigma_px >= 0):
            raise InputError(
                f"detector_psf_sigma_px must be ≥ 0, got {self.detector_psf_sigma_px!r}"
            )
        if self.photons_per_px is not None and not (
            math.isfinite(self.photons_per_px) and self.photons_per_px > 0
        ):
            raise InputError(
                f"photons_per_px must be positive or None (no noise), got {self.photons_per_px!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulationConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
