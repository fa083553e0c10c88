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

#: plausible lengths (metres): (lowest, highest, what). Beyond them a length is taken to be in
#: the wrong unit (millimetres or micrometres typed as metres) and refused. The sample →
#: detector distance has no lower bound but > 0: the simulator takes z → 0 for contact images.
PLAUSIBLE_M: dict[str, tuple[float, float, str]] = {
    "pixel_size_m": (5e-8, 1e-3, "pixel size"),
    "distance_m": (0.0, 50.0, "sample → detector distance"),
    "source_distance_m": (0.01, 2000.0, "source → sample distance"),
    "source_size_m": (1e-8, 1e-2, "source size (FWHM)"),
}
_UNITS = (("millimetres", 1e-3), ("micrometres", 1e-6), ("nanometres", 1e-9))


def _format_m(value_m: float) -> str:
    """A length in metres, with a readable unit: ``600 m``, ``3.25 µm``."""
    for unit, factor in (("m", 1.0), ("mm", 1e-3), ("µm", 1e-6), ("nm", 1e-9)):
        if abs(value_m) >= factor:
            return f"{value_m / factor:.4g} {unit}"
    return f"{value_m:.4g} m"


def _check_length(name: str, value: float, lo: float, hi: float, what: str) -> None:
    """Raise :class:`GeometryError` unless ``lo <= value <= hi`` (metres), guessing the unit slip."""
    if lo <= value <= hi:
        return
    bound = f"above {_format_m(hi)}" if value > hi else f"below {_format_m(lo)}"
    hint = "lengths are in metres"
    for unit, factor in _UNITS:
        if value > hi and lo <= value * factor <= hi:
            hint = (f"lengths are in metres — did you give {unit}? {value:g} {unit} is "
                    f"{name}: {value * factor:g}")
            break
    raise GeometryError(
        f"Geometry.{name} = {value:g} m: a {what} {bound} is not plausible "
        f"(expected {f'{_format_m(lo)} – ' if lo > 0 else 'at most '}{_format_m(hi)}); {hint}."
    )


@dataclass(frozen=True)
class Geometry:
    """Parameters of the imaging set-up.

    Attributes
    ----------
    energy_keV
        Photon energy in keV (1–1000).
    pixel_size_m
        Effective detector pixel size in metres (camera pixel / objective magnification;
        0.05 µm – 1 mm).
    distance_m
        Sample → detector propagation distance z in metres (> 0, at most 50 m).
    source_distance_m
        Source → sample distance R1 in metres (sets magnification and source blur;
        0.01 – 2000 m).
    source_size_m
        Source size (FWHM) in metres, in the direction that matters (the larger one;
        0.01 µm – 10 mm).

    A length outside its range (:data:`PLAUSIBLE_M`) is refused as a likely unit slip, e.g.
    ``distance_m: 600`` (millimetres typed as metres).
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
            try:
                finite = math.isfinite(value)
            except OverflowError:  # an int too large for a float
                finite = False
            if not finite or value <= 0:
                raise GeometryError(
                    f"Geometry.{f.name} must be positive and finite, got {str(value)[:24]}; "
                    f"check the geometry (units: energy in keV, lengths in metres)."
                )
            object.__setattr__(self, f.name, float(value))
        if not 1.0 <= self.energy_keV <= 1000.0:
            raise GeometryError(
                f"Geometry.energy_keV = {self.energy_keV} is outside 1–1000 keV; "
                f"the energy is in keV (15 keV is 15.0, not 15000)."
            )
        for name, (lo, hi, what) in PLAUSIBLE_M.items():
            _check_length(name, getattr(self, name), lo, hi, what)

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
        """Read a geometry from a JSON file path or a JSON string (text starting with ``{``)."""
        if isinstance(source, str) and source.lstrip().startswith(("{", "[")):
            text, where = source, "geometry JSON"
        else:
            path = Path(source)
            where = f"geometry file {path}"
            try:
                text = path.read_bytes().decode("utf-8")
            except IsADirectoryError:
                raise FileFormatError(f"{where} is a folder; pass the geometry.json file in it"
                                      ) from None
            except (FileNotFoundError, NotADirectoryError):
                raise FileFormatError(
                    f"{where} does not exist; pass --geometry with a geometry.json "
                    f"such as the one `specktrack simulate` writes"
                ) from None
            except UnicodeDecodeError:
                raise FileFormatError(f"{where} is not a text (JSON) file; pass the geometry.json, "
                                      f"not an image") from None
            except OSError as exc:
                raise FileFormatError(f"{where} cannot be read ({exc.strerror or exc}); check the "
                                      f"path") from exc
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise FileFormatError(f"{where} is not valid JSON ({str(exc)[:120]}); fix the file"
                                  ) from None
        return cls.from_dict(data)


_FIELD_NAMES = {f.name for f in fields(Geometry)}
