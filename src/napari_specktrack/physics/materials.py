"""Refractive indices of materials at an X-ray energy, from xraydb.

n = 1 − δ + iβ. The phase shift through a thickness t is −k δ t (radians); the intensity
transmission is exp(−μ_tot t) with μ_tot the *total* attenuation (photo-absorption plus
coherent and incoherent scattering), i.e. β_tot = μ_tot λ / 4π. xraydb's ``xray_delta_beta``
returns only the photo-absorption part of β, so transmission here uses
``material_mu(kind="total")`` (see physics.md).

Materials are named presets (``"POM"``, ``"PE"``, ...) or a mapping
``{"formula": "CH2O", "density_g_cm3": 1.41}``, the same spelling ``phantom.json`` uses.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Union

from ..errors import MaterialError
from ..geometry import HC_KEV_M


@dataclass(frozen=True)
class Material:
    """A material by chemical formula and mass density (g/cm³)."""

    name: str
    formula: str
    density_g_cm3: float

    def to_spec(self) -> str | dict[str, Any]:
        """The ``phantom.json`` spelling: the preset name, or formula + density."""
        if PRESETS.get(self.name) == self:
            return self.name
        return {"formula": self.formula, "density_g_cm3": self.density_g_cm3}


#: Named materials. Densities in g/cm³.
PRESETS: dict[str, Material] = {
    m.name: m
    for m in (
        Material("POM", "CH2O", 1.41),  # polyoxymethylene: the calibration spheres
        Material("PE", "C2H4", 0.95),  # polyethylene: the tube
        Material("PMMA", "C5H8O2", 1.18),
        # Polyurethane (approximate monomer formula used in physics.md); the walls of a PU foam.
        Material("polyurethane", "C27H36N2O10", 1.2),
        Material("SiC", "SiC", 3.21),  # sandpaper grit
        Material("Al2O3", "Al2O3", 3.95),  # alternative sandpaper grit
        Material("air", "N78O21Ar1", 1.205e-3),  # dry air at 20 °C, by atom fraction
        Material("water", "H2O", 1.0),
        Material("cellulose", "C6H10O5", 1.5),  # paper backing of sandpaper
    )
}
# Foam walls are polyurethane; "PU" and "polyurethane foam" name the same wall material.
PRESETS["PU"] = PRESETS["polyurethane"]
PRESETS["polyurethane foam"] = PRESETS["polyurethane"]

MaterialSpec = Union[str, Material, dict]

_FORMULA_RE = re.compile(r"^([A-Z][a-z]?\d*(\.\d+)?)+$")


def resolve_material(spec: MaterialSpec) -> Material:
    """Turn a preset name, a :class:`Material` or ``{"formula", "density_g_cm3"}`` into a Material."""
    if isinstance(spec, Material):
        return spec
    if isinstance(spec, str):
        if spec in PRESETS:
            return PRESETS[spec]
        lowered = {k.lower(): v for k, v in PRESETS.items()}
        if spec.lower() in lowered:
            return lowered[spec.lower()]
        raise MaterialError(
            f"unknown material {spec!r}; use one of {sorted(set(PRESETS))} or "
            f'{{"formula": "CH2O", "density_g_cm3": 1.41}}'
        )
    if isinstance(spec, dict):
        try:
            formula = str(spec["formula"])
            density = float(spec["density_g_cm3"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MaterialError(
                f"material {spec!r} needs 'formula' (e.g. 'CH2O') and 'density_g_cm3' (a number)"
            ) from exc
        if not _FORMULA_RE.match(formula):
            raise MaterialError(f"material formula {formula!r} is not a chemical formula like 'CH2O'")
        if not math.isfinite(density) or density <= 0:
            raise MaterialError(f"material density {density} g/cm³ must be positive and finite")
        return Material(str(spec.get("name", formula)), formula, density)
    raise MaterialError(f"cannot interpret {spec!r} as a material (a preset name or formula+density)")


@dataclass(frozen=True)
class OpticalConstants:
    """Refractive-index decrement and absorption of one material at one energy.

    Attributes
    ----------
    delta
        Refractive-index decrement δ (dimensionless).
    beta_photo
        Photo-absorption part of β (dimensionless), as xraydb's ``xray_delta_beta``.
    beta_total
        β from the total attenuation, β_tot = μ_tot λ / 4π (dimensionless).
    mu_total_per_m
        Total linear attenuation coefficient μ_tot in 1/m (intensity).
    """

    delta: float
    beta_photo: float
    beta_total: float
    mu_total_per_m: float

    def phase_per_m(self, energy_keV: float) -> float:
        """Phase shift per metre of material, −k δ, in rad/m (negative: phase advance)."""
        return -2.0 * math.pi / (HC_KEV_M / energy_keV) * self.delta


@lru_cache(maxsize=256)
def _constants(formula: str, density: float, energy_keV: float) -> OpticalConstants:
    import xraydb

    energy_eV = energy_keV * 1e3
    try:
        delta, beta_photo, _ = xraydb.xray_delta_beta(formula, density, energy_eV)
        mu_total_per_cm = xraydb.material_mu(formula, energy_eV, density=density, kind="total")
    except Exception as exc:  # xraydb raises assorted errors for bad formulas
        raise MaterialError(f"xraydb cannot evaluate {formula!r} at {energy_keV} keV: {exc}") from exc
    mu_total_per_m = float(mu_total_per_cm) * 100.0
    wavelength_m = HC_KEV_M / energy_keV
    beta_total = mu_total_per_m * wavelength_m / (4.0 * math.pi)
    return OpticalConstants(float(delta), float(beta_photo), float(beta_total), mu_total_per_m)


def optical_constants(material: MaterialSpec, energy_keV: float) -> OpticalConstants:
    """δ, β and μ of ``material`` at ``energy_keV`` (keV) from xraydb."""
    m = resolve_material(material)
    if not (math.isfinite(energy_keV) and energy_keV > 0):
        raise MaterialError(f"energy {energy_keV} keV must be positive and finite")
    return _constants(m.formula, m.density_g_cm3, float(energy_keV))


def delta_beta(material: MaterialSpec, energy_keV: float) -> tuple[float, float]:
    """(δ, β_total) of ``material`` at ``energy_keV``; β is the total-attenuation value."""
    c = optical_constants(material, energy_keV)
    return c.delta, c.beta_total
