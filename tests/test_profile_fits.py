"""Profile fits a user can trust (issue 14 §3), against simulated truth.

Seeds 44 and 45 were not used while developing the fit. Tolerances: the issue's goal, fitted
sphere radii within 2 % and centres within 1 px of the truth (the half-chord √(R² − d²) the line
cuts, R for a line through the centre), on the truth phase for lines across one to three
spheres with and without the tube walls; the reported 1σ within a factor 1.5 of the scatter
over noise realisations; on a retrieved phase the measured accuracy (see the test).
"""

import itertools
import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from napari_specktrack.geometry import Geometry
from napari_specktrack.physics import profiles as pr
from napari_specktrack.physics.theory import phase_map

G = Geometry()
P_M = G.object_pixel_size_m


def _clip(c, e, n):
    """Parameters t of c + t·e inside an n × n image."""
    ranges = [sorted(((0 - c[k]) / e[k], (n - 1 - c[k]) / e[k])) for k in (0, 1) if abs(e[k]) > 1e-9]
    return max(r[0] for r in ranges), min(r[1] for r in ranges)


def _lines_by_category(phantom, n, oblique=False):
    """{(spheres crossed, tube walls on the line): (p0, p1, truth sphere components)}: lines through
    sphere centres (several directions, and through pairs of centres), across the whole image or
    clipped between the tube walls; lines that graze a sphere (half-chord < R/2) are skipped, and
    with ``oblique`` lines along the tube axis."""
    tube = phantom["objects"][0]
    centres = [np.array(o["center_yx_px"]) for o in phantom["objects"] if o["shape"] == "sphere"]
    directions = [(c, np.array([math.sin(a), math.cos(a)])) for c in centres
                  for a in np.radians([0, 30, 60, 90, 120, 150])]
    directions += [(a, (b - a) / np.linalg.norm(b - a)) for a, b in itertools.combinations(centres, 2)]
    cx, ri = tube["center_x_px"], tube["inner_radius_px"]
    found = {}
    for c, e in directions:
        if oblique and abs(e[1]) < 0.2:
            continue
        t0, t1 = _clip(c, e, n)
        segments = [(t0, t1)]
        if abs(e[1]) > 0.2:
            ta, tb = sorted(((cx - ri + 4 - c[1]) / e[1], (cx + ri - 4 - c[1]) / e[1]))
            segments.append((max(t0, ta), min(t1, tb)))
        for a, b in segments:
            if b - a < 20:
                continue
            p0, p1 = c + a * e, c + b * e
            model, _ = pr.model_from_phantom(phantom, G, p0, p1)
            spheres = [m for m in model.components if m.kind == "sphere"]
            walls = [m for m in model.components if m.kind == "tube"
                     and any(1 <= x <= b - a - 1 for x in m.rims_px()["outer"])]
            if not 1 <= len(spheres) <= 3 or any(s.apparent_radius_px < 0.5 * s.radius_px for s in spheres):
                continue
            found.setdefault((len(spheres), bool(walls)), (p0, p1, spheres))
    return found


def _theory(phantom, n_spheres):
    tube = phantom["objects"][0]
    return pr.SphereTheory("POM", 30 * P_M, n_spheres=n_spheres, tube_material="PE",
                           tube_outer_radius_m=tube["outer_radius_px"] * P_M,
                           tube_inner_radius_m=tube["inner_radius_px"] * P_M)


def _sphere_errors(fit, truth):
    fitted = sorted((c for c in fit.model.components if c.kind == "sphere"), key=lambda c: c.center_px)
    truth = sorted(truth, key=lambda c: c.center_px)
    assert len(fitted) == len(truth)
    return [((f.radius_px - t.apparent_radius_px) / t.apparent_radius_px, f.center_px - t.center_px)
            for f, t in zip(fitted, truth)]


@pytest.fixture(scope="module", params=[44, 45])
def acquisition(request):
    from napari_specktrack.simulate import simulate

    return simulate("spheres", size_px=256, seed=request.param)


def test_sphere_model_fits_truth_within_2_percent_and_1_px(acquisition):
    """The user's route (material, a nominal radius 30 px off the truth, the tube's nominal radii):
    every category of line meets the goal, and every sphere's radius and centre carry a 1σ."""
    categories = _lines_by_category(acquisition.phantom, 256)
    assert set(categories) == {(k, w) for k in (1, 2, 3) for w in (False, True)}
    for (n, walls), (p0, p1, truth) in sorted(categories.items()):
        result = pr.ProfileSet([(p0, p1)], {"truth": acquisition.truth_phase}, G,
                               theory=_theory(acquisition.phantom, n)).compute()
        fit = result.curves[0].fit
        for radius_err, centre_err in _sphere_errors(fit, truth):
            assert abs(radius_err) < 0.02, (n, walls)
            assert abs(centre_err) < 1.0, (n, walls)
        for i, c in enumerate(fit.model.components):
            if c.kind == "sphere":
                assert fit.sigma(i, "radius_px") > 0 and fit.sigma(i, "center_px") > 0
        notes = result.curves[0].analysis.notes
        tube = next((i for i, c in enumerate(fit.model.components) if c.kind == "tube"), None)
        if tube is None:  # a line along the tube's axis: the tube only adds a constant
            assert abs(p1[1] - p0[1]) < 1e-6 and any("along the tube axis" in n for n in notes)
        elif walls:  # the walls the line crosses place the tube
            assert "center_px" not in fit.held[tube] and fit.sigma(tube, "center_px") is not None
        else:  # nothing on the line constrains it: held at nominal and said so
            assert set(fit.held[tube]) == {"center_px", "radius_px", "inner_radius_px"}
            assert fit.model.components[tube].radius_px == pytest.approx(
                acquisition.phantom["objects"][0]["outer_radius_px"], rel=1e-12)
            assert any("held at nominal" in note for note in notes)


def test_tube_between_walls_is_held_not_traded_against_the_offset(acquisition):
    """The issue's case: two spheres, --tube, no wall on the line. The tube radius is not fitted
    (it was 55 % off), the offset is the truth's (0: truth_phase is 0 in air) up to the tube's
    interior phase, and the report says why."""
    p0, p1, _ = _lines_by_category(acquisition.phantom, 256, oblique=True)[(2, False)]
    result = pr.ProfileSet([(p0, p1)], {"truth": acquisition.truth_phase}, G,
                           theory=_theory(acquisition.phantom, 2)).compute()
    report = result.report()["curves"][0]["fit"]
    tube = next(c for c in report["components"] if c["kind"] == "tube")
    assert tube["radius_sigma_px"] is None and tube["radius_error_rel"] is None
    assert "no wall" in tube["held"]["radius_px"]
    assert abs(report["offset_rad"]) < 0.5 and report["offset_sigma_rad"] > 0


def test_phantom_route_reports_only_objects_on_the_segment(acquisition):
    """--phantom: a short segment inside one sphere's neighbourhood lists that sphere only, never
    one whose chord lies beyond the segment's ends (the issue's sphere with a centre at −60 px)."""
    sphere = max((o for o in acquisition.phantom["objects"] if o["shape"] == "sphere"),
                 key=lambda o: o["radius_px"])
    (cy, cx), r = sphere["center_yx_px"], sphere["radius_px"]
    p0, p1 = (cy, max(cx - 1.3 * r, 0)), (cy, min(cx + 1.3 * r, 255))
    result = pr.ProfileSet([(p0, p1)], {"truth": acquisition.truth_phase}, G,
                           theory=acquisition.phantom).compute()
    comps = result.report()["curves"][0]["fit"]["components"]
    length = math.dist(p0, p1)
    for c in (c for c in comps if c["kind"] == "sphere"):
        half_chord = math.sqrt(c["radius_px"] ** 2 - c["line_offset_px"] ** 2)
        assert -half_chord < c["center_px"] < length + half_chord
    assert result.curves[0].analysis.theory_metrics["rmse_rad"] < 1e-4  # the exact theory


def _isolated_sphere_line(phantom, n, margin_px=12.0):
    """A line through one sphere's centre, crossing no other sphere, whose edges lie at least
    ``margin_px`` (about a retrieval window) from any other edge and from the line's ends."""
    for obj in (o for o in phantom["objects"] if o["shape"] == "sphere"):
        c = np.array(obj["center_yx_px"])
        for angle in np.radians(np.arange(0, 180, 20)):
            e = np.array([math.sin(angle), math.cos(angle)])
            t0, t1 = _clip(c, e, n)
            p0, p1 = c + t0 * e, c + t1 * e
            model, _ = pr.model_from_phantom(phantom, G, p0, p1)
            spheres = [m for m in model.components if m.kind == "sphere"]
            if len(spheres) != 1 or abs(spheres[0].offset_px) > 1e-6:
                continue
            rims = spheres[0].rims_px()["outer"]
            others = [x for m in model.components if m.kind != "sphere"
                      for r in m.rims_px().values() for x in r]
            if all(abs(x - y) >= margin_px for x in others for y in rims) and \
                    margin_px <= rims[0] and rims[1] <= t1 - t0 - margin_px:
                return p0, p1, spheres
    raise AssertionError("no isolated sphere in this phantom")


def test_retrieved_phase_measured_accuracy(acquisition):
    """Measured, not the goal: on a double-exposure phase (measured in-line image, 256², default
    11-px window) a sphere whose edges are a window away from other edges comes out within 10 %
    and 3 px with ``fit_contrast`` (seeds 40–45: median |error| 3.8 %, 90th percentile 9 %,
    centres 1.2 px). Retrieval underestimates the phase near the rims (docs/accuracy.md): the
    spheres look 3 % small, 10 % without ``fit_contrast``; edges closer than a window merge."""
    from napari_specktrack.retrieval import double_exposure

    acq = acquisition
    phase = double_exposure(acq.sample, acq.reference, acq.inline, acq.geometry, window_px=11,
                            search_px=5, fuse_inline=False).phase_rad
    p0, p1, truth = _isolated_sphere_line(acq.phantom, 256)
    result = pr.ProfileSet([(p0, p1)], {"retrieved": phase}, G, theory=_theory(acq.phantom, 1),
                           fit_contrast=True).compute()
    ((radius_err, centre_err),) = _sphere_errors(result.curves[0].fit, truth)
    assert abs(radius_err) < 0.10 and abs(centre_err) < 3.0


@pytest.mark.parametrize("smooth_px", [0, 3])
def test_uncertainties_match_the_scatter_over_noise(smooth_px):
    """20 noise realisations (0.1 rad, white or smoothed over 3 px like a retrieval's errors): the
    reported 1σ of radius and centre within a factor 1.5 of their scatter; the correlation
    inflation is what keeps it so for smoothed noise."""
    phantom = {"medium": "air", "objects": [
        {"shape": "sphere", "center_yx_px": [40.0, 50.3], "radius_px": 18.0, "material": "POM"}]}
    truth = phase_map(phantom, G, (80, 100))
    theory = pr.SphereTheory("POM", 18 * P_M)
    rng = np.random.default_rng(3)
    radius, centre, sig_r, sig_c = [], [], [], []
    for _ in range(20):
        noise = rng.normal(0, 1, truth.shape)
        if smooth_px:
            noise = gaussian_filter(noise, smooth_px)
            noise /= noise.std()
        fit = pr.ProfileSet([((40, 5), (40, 95))], {"p": truth + 0.1 * noise}, G,
                            theory=theory).compute().curves[0].fit
        radius.append(fit.radii_px[0])
        centre.append(fit.centers_px[0])
        sig_r.append(fit.sigma(0, "radius_px"))
        sig_c.append(fit.sigma(0, "center_px"))
    for values, sigmas in ((radius, sig_r), (centre, sig_c)):
        ratio = np.mean(sigmas) / np.std(values, ddof=1)
        assert 1 / 1.5 < ratio < 1.5
    assert np.mean(radius) == pytest.approx(18.0, abs=3 * np.mean(sig_r) / math.sqrt(20) + 0.01)


def test_constrained_parameters_follow_the_edges_on_the_segment():
    span = (0.0, 100.0)
    sphere = pr.ProfileComponent("sphere", 50.0, 20.0, -0.3)
    assert pr.constrained_parameters(sphere, span)[0] == {"center_px", "radius_px"}
    cut = pr.ProfileComponent("sphere", 95.0, 20.0, -0.3)  # one edge, centre on the segment
    assert pr.constrained_parameters(cut, span)[0] == {"center_px", "radius_px"}
    free, held = pr.constrained_parameters(cut, span, contrast_known=False)
    assert free == {"center_px"} and "one edge" in held["radius_px"]
    tube = pr.ProfileComponent("tube", 50.0, 120.0, -0.2, inner_radius_px=110.0)  # walls off the line
    free, held = pr.constrained_parameters(tube, span)
    assert free == set() and set(held) == {"center_px", "radius_px", "inner_radius_px"}
    one_wall = pr.ProfileComponent("tube", 150.0, 120.0, -0.2, inner_radius_px=110.0)  # edges at 30, 40
    assert pr.constrained_parameters(one_wall, span)[0] == {"center_px", "inner_radius_px"}
    both = pr.ProfileComponent("tube", 50.0, 45.0, -0.2, inner_radius_px=40.0)
    assert pr.constrained_parameters(both, span)[0] == {"center_px", "radius_px", "inner_radius_px"}


def test_correlation_inflation():
    rng = np.random.default_rng(0)
    white = rng.normal(size=4000)
    assert pr.correlation_inflation(white) == pytest.approx(1.0, abs=0.15)
    smooth = gaussian_filter(white, 4.0)
    # Gaussian-smoothed white noise: 1 + 2Σρ_k = 2√π σ ≈ 14.2 for σ = 4 samples
    assert pr.correlation_inflation(smooth) == pytest.approx(2 * math.sqrt(math.pi) * 4.0, rel=0.25)
