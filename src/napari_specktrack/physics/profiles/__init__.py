"""Line profiles of phase images against theoretical sphere / cylinder / tube phantoms.

The calibration of Yu et al.'s Fig. 6: draw a line across POM spheres in a retrieved phase
image and compare it with the phase a sphere of known size and refractive index must have;
for dynamic data (their Fig. 8), overlay one line's profile at several time points.

Plain functions on arrays (no Qt), shared by the ``specktrack profile`` command, the Profile dock
widget and the docs figure, split by idea:

- :mod:`.model` — the 1-D profile model (:class:`ProfileComponent`, :class:`ProfileModel`,
  :func:`model_from_phantom`, :func:`phase_per_px`);
- :mod:`.sampling` — the measured profile (:func:`sample_line`), the exact profile of a known
  phantom (:func:`theory_from_phantom`), the frames of a stack to overlay (:func:`time_nodes`);
- :mod:`.initial` — starting values found from the profile (:func:`initial_model`);
- :mod:`.fitting` — least squares that holds what the line cannot constrain
  (:func:`fit_profile`, :func:`constrained_parameters`);
- :mod:`.result` — :class:`FitResult` (values with 1σ, held parameters), :func:`compare_profiles`;
- :mod:`.spec` — what the user knows (:class:`SphereTheory`), checked and turned into pixels;
- :mod:`.analysis` — theory and fit of one profile (:func:`analyse_profile`);
- :mod:`.export` — CSV and plots;
- :mod:`.profile_set` — :class:`ProfileSet`: lines × images (frames, time nodes) × theory →
  every sampled curve, theory curve and fit, and a JSON/CSV-ready report, in one call.

Distances along a line are in pixels of the image (the object-plane pixel p/M of the
geometry converts them to metres); phase in radians. Line end points are (y, x) = (row,
column) in pixel coordinates with pixel centres at integers, as ``phantom.json``.
"""

from .analysis import ProfileAnalysis, analyse_profile
from .export import plot_profiles, write_profiles_csv
from .fitting import constrained_parameters, correlation_inflation, fit_profile
from .initial import TubeSpec, initial_model, initial_models
from .model import (
    MIN_LINE_PX,
    PROFILE_KINDS,
    ProfileComponent,
    ProfileModel,
    across_offsets_px,
    axis_crossing,
    line_frame,
    model_from_phantom,
    phase_per_px,
)
from .profile_set import ProfileCurve, ProfileImage, ProfileLine, ProfileSet, ProfileSetResult
from .result import FitResult, compare_profiles
from .sampling import LineSamples, line_samples, sample_line, theory_from_phantom, time_nodes
from .spec import PixelTheory, SphereTheory

__all__ = [
    "MIN_LINE_PX",
    "PROFILE_KINDS",
    "FitResult",
    "LineSamples",
    "PixelTheory",
    "ProfileAnalysis",
    "ProfileComponent",
    "ProfileCurve",
    "ProfileImage",
    "ProfileLine",
    "ProfileModel",
    "ProfileSet",
    "ProfileSetResult",
    "SphereTheory",
    "TubeSpec",
    "across_offsets_px",
    "analyse_profile",
    "axis_crossing",
    "compare_profiles",
    "constrained_parameters",
    "correlation_inflation",
    "fit_profile",
    "initial_model",
    "initial_models",
    "line_frame",
    "line_samples",
    "model_from_phantom",
    "phase_per_px",
    "plot_profiles",
    "sample_line",
    "theory_from_phantom",
    "time_nodes",
    "write_profiles_csv",
]
