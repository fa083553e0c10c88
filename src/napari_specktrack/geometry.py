"""Imaging geometry of a speckle-tracking experiment.

All lengths are in metres, the photon energy in keV. The default is the beamline of Yu et al.
(IUCrJ 2023): 15 keV, 6.5 µm camera pixels behind a 2× objective (3.25 µm effective pixel),
sample→detector 0.6 m, source→sample 34 m.

Cone-beam geometry enters only through the magnification M = (R1 + z) / R1 (1.0176 by
default). By the Fresnel scaling theorem a point source at R1 is equivalent to a plane wave
that propagates ``effective_distance_m`` = z / M in the object plane, whose pixel is
``object_pixel_size_m`` = p / M, followed by a magnification M onto the detector. The
simulator propagates plane waves with those two numbers; the retrieval converts speckle
shifts to phase gradients with :attr:`Geometry.phase_gradient_per_shift`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from .errors import FileFormatError, GeometryError

#: h·c in keV·m, for λ = hc / E (CODATA 2018).
HC_KEV_M = 1.239841984e-9

_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True)
class Geometry:
    """Parameters of the imaging set-up.

    Attributes
    ----------
    energy_keV
        Photon energy in keV.
    pixel_size_m
        Effective detector pixel size in metres (camera pixel / objective magnification).
    distance_m
        Sample → detector propagation distance z in metres.
    source_distance_m
        Source → sample distance R1 in metres (sets magnification and source blur).
    source_size_m
        Source size (FWHM) in metres, in the direction that matters (the larger one).
    """

    energy_keV: float = 15.0
    pixel_size_m: float = 3.25e-6
    distance_m: float = 0.6
    source_distance_m: float = 34.0
    source_size_m: float = 1.0e-4

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise GeometryError(
                    f"Geometry.{f.name} must be a number, got {value!r} ({type(value).__name__}); "
                    f"give it in the unit its name carries."
                )
            if not math.isfinite(value) or value <= 0:
                raise GeometryError(
                    f"Geometry.{f.name} must be positive and finite, got {value!r}; "
                    f"check the geometry (units: energy in keV, lengths in metres)."
                )
            object.__setattr__(self, f.name, float(value))
        if self.pixel_size_m > 1e-3:
            raise GeometryError(
                f"Geometry.pixel_size_m = {self.pixel_size_m} m is larger than 1 mm; "
                f"pixel sizes are in metres (3.25 µm is 3.25e-6)."
            )
        if not 1.0 <= self.energy_keV <= 1000.0:
            raise GeometryError(
                f"Geometry.energy_keV = {self.energy_keV} is outside 1–1000 keV; "
                f"the energy is in keV (15 keV is 15.0, not 15000)."
            )

    # --- derived quantities -------------------------------------------------------------
    @property
    def wavelength_m(self) -> float:
        """X-ray wavelength λ in metres."""
        return HC_KEV_M / self.energy_keV

    @property
    def wavenumber_per_m(self) -> float:
        """Wavenumber k = 2π/λ in rad/m."""
        return 2.0 * math.pi / self.wavelength_m

    @property
    def magnification(self) -> float:
        """Geometric magnification M = (R1 + z) / R1 of the point-source (cone-beam) set-up."""
        return (self.source_distance_m + self.distance_m) / self.source_distance_m

    @property
    def object_pixel_size_m(self) -> float:
        """Detector pixel back-projected to the sample plane, p / M, in metres."""
        return self.pixel_size_m / self.magnification

    @property
    def layer_scale_um(self) -> tuple[float, float]:
        """napari ``scale`` (y, x) of an image layer in µm: the object-plane pixel, so that the
        scale bar measures the sample (not the magnified shadow on the detector)."""
        p_um = self.object_pixel_size_m * 1e6
        return (p_um, p_um)

    @property
    def effective_distance_m(self) -> float:
        """Plane-wave-equivalent propagation distance z / M in metres (Fresnel scaling)."""
        return self.distance_m / self.magnification

    @property
    def fresnel_number(self) -> float:
        """Fresnel number of one object-plane pixel, p_obj² / (λ z_eff) (dimensionless)."""
        return self.object_pixel_size_m**2 / (self.wavelength_m * self.effective_distance_m)

    @property
    def phase_gradient_per_shift(self) -> float:
        """Phase gradient (rad per pixel) that displaces the speckle by one detector pixel.

        ∂φ/∂x [rad/px] = k · p_obj² / z_eff · u [px] = k p² / (z M) · u, with u the speckle
        displacement in detector pixels. About 1.32 rad/px at the default geometry.
        """
        return self.wavenumber_per_m * self.object_pixel_size_m**2 / self.effective_distance_m

    @property
    def source_blur_sigma_px(self) -> float:
        """Penumbral blur of sample features by the finite source: Gaussian σ in detector pixels.

        The source FWHM projected through the sample onto the detector is s · z / R1.
        """
        fwhm_m = self.source_size_m * self.distance_m / self.source_distance_m
        return fwhm_m / _FWHM_PER_SIGMA / self.pixel_size_m

    # --- serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict[str, float]:
        """The five defining numbers, with the key names of ``geometry.json``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Geometry:
        """Build from a ``geometry.json`` mapping; unknown or missing keys are errors."""
        if not isinstance(data, dict):
            raise GeometryError(
                f"geometry must be a JSON object with keys {sorted(_FIELD_NAMES)}, got "
                f"{type(data).__name__}"
            )
        unknown = set(data) - _FIELD_NAMES
        if unknown:
            raise GeometryError(
                f"unknown geometry key(s) {sorted(unknown)}; allowed: {sorted(_FIELD_NAMES)} "
                f"(energy in keV, lengths in metres)"
            )
        missing = _FIELD_NAMES - set(data)
        if missing:
            raise GeometryError(
                f"geometry is missing {sorted(missing)}; write all of {sorted(_FIELD_NAMES)} "
                f"(e.g. `specktrack simulate` writes a complete geometry.json)"
            )
        return cls(**data)

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """Serialise to JSON; if ``path`` is given, also write it atomically."""
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        if path is not None:
            from .io import write_text_atomic

            write_text_atomic(path, text)
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike) -> Geometry:
        """Read a geometry from a JSON file path or a JSON string."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            path = Path(source)
            if not path.is_file():
                raise FileFormatError(
                    f"geometry file {path} does not exist; pass --geometry with a geometry.json "
                    f"such as the one `specktrack simulate` writes"
                )
            text = path.read_text()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FileFormatError(f"geometry JSON is not valid JSON ({exc}); fix the file") from exc
        return cls.from_dict(data)


_FIELD_NAMES = {f.name for f in fields(Geometry)}
