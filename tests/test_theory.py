"""Profile models and fits against analytic truth (physics/theory.py, physics/profiles/).

Tolerances: exact identities (same samples, same formula) to 1e-9 rad; fits of noise-free truth
to 0.5 % in radius and 0.2 px in centre; on the simulator's spheres phantom to the issue's
2 % and 0.5 px.
"""

import dataclasses
import math

import numpy as np
import pytest

from napari_specktrack.errors import InputError
from napari_specktrack.geometry import Geometry
from napari_specktrack.physics import profiles as pr
from napari_specktrack.physics import theory as th
from napari_specktrack.physics.materials import optical_constants
from napari_specktrack.physics.profiles import model as pm

G = Geometry()
P_M = G.object_pixel_size_m


def test_phase_per_px_is_minus_k_delta_p():
    # physics.md: 1 mm of POM advances the phase by ≈ 105 rad at 15 keV (δ = 1.388e-6)
    ppp = pm.phase_per_px("POM", G)
    assert ppp / P_M * 1e-3 == pytest.approx(-105.5, rel=0.01)
    delta = optical_constants("POM", 15.0).delta - optical_constants("air", 15.0).delta
    assert ppp == pytest.approx(-G.wavenumber_per_m * delta * P_M, rel=1e-12)
    assert pm.phase_per_px("POM", G, void=True) == pytest.approx(-ppp)
    # in water the contrast of POM drops to δ_POM − δ_water
    assert abs(pm.phase_per_px("POM", G, medium="water")) < 0.3 * abs(ppp)


def test_sphere_cylinder_tube_profiles_are_the_analytic_chords():
    ppp, R = -0.3, 20.0
    sphere = pm.ProfileComponent("sphere", 50.0, R, ppp)
    s = np.array([50.0, 50.0 + 0.6 * R, 50.0 - R, 50.0 + R + 3])
    np.testing.assert_allclose(sphere.phase(s), ppp * np.array([2 * R, 2 * 0.8 * R, 0, 0]), atol=1e-12)
    # a line missing the centre by d sees a sphere of radius √(R² − d²)
    off = dataclasses.replace(sphere, offset_px=12.0)
    assert off.apparent_radius_px == pytest.approx(16.0)
    assert off.phase(50.0) == pytest.approx(ppp * 2 * 16.0)
    # a cylinder crossed at 60° from its axis: r = sin(60°)·(s − c)
    cyl = pm.ProfileComponent("cylinder", 0.0, 10.0, ppp, stretch=math.sin(math.radians(60)))
    assert cyl.apparent_radius_px == pytest.approx(10 / math.sin(math.radians(60)))
    assert cyl.phase(5.0) == pytest.approx(ppp * 2 * math.sqrt(100 - (5 * math.sin(math.radians(60))) ** 2))
    # the tube wall: 2(Ro − Ri) on the axis, 2√(Ro² − r²) between the radii, 0 outside
    tube = pm.ProfileComponent("tube", 0.0, 30.0, ppp, inner_radius_px=25.0)
    np.testing.assert_allclose(
        tube.chord_px(np.array([0.0, 27.0, 31.0])), [10.0, 2 * math.sqrt(900 - 729), 0.0], atol=1e-12)
    model = pm.ProfileModel((sphere, tube), offset_rad=1.5, slope_rad_per_px=0.01)
    x = np.linspace(-40, 90, 53)
    np.testing.assert_allclose(model.evaluate(x), sphere.phase(x) + tube.phase(x) + 1.5 + 0.01 * x)
    with pytest.raises(InputError, match="kind"):
        pm.ProfileComponent("cube", 0, 1, ppp)


def test_model_pixel_average_and_width_match_the_phase_map():
    # a sphere centred on pixel row 40: along that row the 1-D model with s × s pixel averaging is
    # the simulator's pixel-averaged truth (theory.phase_map) exactly
    phantom = {"medium": "air", "objects": [
        {"shape": "sphere", "center_yx_px": [40.0, 47.3], "radius_px": 17.5, "material": "POM"}]}
    img = th.phase_map(phantom, G, (80, 96), oversample=4)
    model, notes = pm.model_from_phantom(phantom, G, (40, 0), (40, 95))
    assert notes == [] and len(model.components) == 1
    s = np.arange(96.0)
    np.testing.assert_allclose(model.evaluate(s, oversample=4), img[40], atol=1e-9)
    # width 3 = the mean of the rows 39, 40, 41
    np.testing.assert_allclose(model.evaluate(s, width_px=3, oversample=4), img[39:42].mean(axis=0),
                               atol=1e-9)


def test_model_from_phantom_positions_along_an_oblique_line():
    phantom = {"medium": "air", "objects": [
        {"shape": "tube", "axis": "y", "center_x_px": 50.0, "outer_radius_px": 40.0,
         "inner_radius_px": 34.0, "material": "PE"},
        {"shape": "sphere", "center_yx_px": [30.0, 45.0], "radius_px": 10.0, "material": "POM"},
        {"shape": "sphere", "center_yx_px": [90.0, 45.0], "radius_px": 5.0, "material": "POM"},
        {"shape": "gaussian", "center_yx_px": [5.0, 5.0], "sigma_px": 2.0, "peak_thickness_px": 1.0,
         "material": "PMMA"},
    ]}
    p0, p1 = (10.0, 5.0), (70.0, 85.0)  # direction (0.6, 0.8)
    model, notes = pm.model_from_phantom(phantom, G, p0, p1)
    kinds = [c.kind for c in model.components]
    assert kinds == ["tube", "sphere"]  # the small sphere is off the line, the gaussian noted
    assert len(notes) == 1 and "gaussian" in notes[0]
    tube, sphere = model.components
    assert tube.stretch == pytest.approx(0.8) and tube.center_px == pytest.approx(45.0 / 0.8)
    rel = np.array([20.0, 40.0])
    assert sphere.center_px == pytest.approx(rel @ [0.6, 0.8])
    assert abs(sphere.offset_px) == pytest.approx(abs(rel @ [-0.8, 0.6]))
    # point samples: the model equals the phantom's thickness at the sample positions
    samples = pr.line_samples(p0, p1)
    contrast = th._material_contrast(phantom, G.energy_keV)
    kp = -G.wavenumber_per_m * P_M
    expected = sum(kp * contrast(o)[0] * th.object_thickness(o, samples.y_px[:, 0], samples.x_px[:, 0])
                   for o in phantom["objects"][:3])
    np.testing.assert_allclose(model.evaluate(samples.distance_px), expected, atol=1e-9)


@pytest.mark.parametrize("p0, p1, width", [((40, 0), (40, 95), 1), ((10.3, 3.7), (70.2, 90.1), 1),
                                           ((40.5, 0), (40.5, 95), 5), ((5, 80), (75, 10), 3)])
def test_theory_from_phantom_equals_profile_of_truth(p0, p1, width):
    phantom = {"medium": "air", "objects": [
        {"shape": "tube", "axis": "y", "center_x_px": 48.0, "outer_radius_px": 44.0,
         "inner_radius_px": 40.0, "material": "PE"},
        {"shape": "sphere", "center_yx_px": [38.2, 40.0], "radius_px": 21.0, "material": "POM"},
        {"shape": "sphere", "center_yx_px": [55.0, 70.0], "radius_px": 9.0, "material": "POM"},
    ]}
    truth = th.phase_map(phantom, G, (80, 96))
    d, measured = pr.sample_line(truth, p0, p1, width_px=width)
    d2, theory = pr.theory_from_phantom(phantom, G, p0, p1, width_px=width)
    np.testing.assert_array_equal(d, d2)
    assert measured.min() < -5  # the line crosses matter
    np.testing.assert_allclose(measured, theory, atol=1e-9)


def test_sample_line_geometry_and_outside_is_nan():
    img = np.add.outer(np.arange(20.0), 100 * np.arange(30.0))  # value = y + 100 x
    d, v = pr.sample_line(img, (2, 3), (2, 13))
    np.testing.assert_allclose(d, np.arange(11.0))
    np.testing.assert_allclose(v, 2 + 100 * np.arange(3, 14.0))
    d, v = pr.sample_line(img, (5, 25), (5, 35))  # leaves the image at x = 29.5
    assert np.isfinite(v[:5]).all() and np.isnan(v[5:]).all()
    with pytest.raises(InputError, match="zero length"):
        pr.sample_line(img, (2, 3), (2, 3))
    with pytest.raises(InputError, match="2-D"):
        pr.sample_line(np.zeros((2, 5, 5)), (0, 0), (3, 3))


def test_compare_profiles_removes_the_offset():
    t = -np.hypot(np.linspace(-1, 1, 50), 0.3)
    m = pr.compare_profiles(t + 2.5, t)
    assert m["offset_rad"] == pytest.approx(2.5) and m["rmse_rad"] < 1e-12
    assert m["correlation"] == pytest.approx(1.0)
    m = pr.compare_profiles(t + 2.5, t, align_offset=False)
    assert m["rmse_rad"] == pytest.approx(2.5) and m["max_error_rad"] == pytest.approx(2.5)


def _two_spheres():
    phantom = {"medium": "air", "objects": [
        {"shape": "sphere", "center_yx_px": [50.0, 38.4], "radius_px": 22.0, "material": "POM"},
        {"shape": "sphere", "center_yx_px": [50.0, 86.9], "radius_px": 14.5, "material": "POM"},
    ]}
    return phantom, th.phase_map(phantom, G, (100, 120))


def test_fit_recovers_radii_and_centres_from_the_profile_alone():
    _, truth = _two_spheres()
    rng = np.random.default_rng(1)
    # a retrieved phase: arbitrary offset and noise of 0.05 rad (against dips of 15 rad)
    image = truth + 3.0 + rng.normal(0, 0.05, truth.shape)
    d, v = pr.sample_line(image, (50, 0), (50, 119))
    ppp = pm.phase_per_px("POM", G)
    start, notes = pr.initial_model(d, v, sphere_phase_per_px=ppp, n_spheres=2)
    assert notes == []
    fit = pr.fit_profile(d, v, start, nominal_radii_px=[22.0, 14.5])
    assert fit.success
    np.testing.assert_allclose(fit.radii_px, [22.0, 14.5], rtol=0.005)
    np.testing.assert_allclose(fit.centers_px, [38.4, 86.9], atol=0.2)
    assert fit.model.offset_rad == pytest.approx(3.0, abs=0.05)
    assert fit.rmse_rad == pytest.approx(0.05, rel=0.3)  # the noise, nothing systematic
    assert fit.correlation > 0.999
    assert max(abs(e) for e in fit.radius_errors_rel()) < 0.005
    summary = fit.summary(P_M)
    assert summary["components"][0]["radius_um"] == pytest.approx(22.0 * P_M * 1e6, rel=0.005)


def test_fit_contrast_recovers_an_unknown_material():
    _, truth = _two_spheres()
    d, v = pr.sample_line(truth, (50, 0), (50, 119))
    wrong = pm.phase_per_px("PE", G)  # user picked PE; the spheres are POM
    start, _ = pr.initial_model(d, v, sphere_phase_per_px=wrong, n_spheres=2, nominal_radius_px=20.0,
                                use_amplitude=False)
    fit = pr.fit_profile(d, v, start, fit_contrast=True)
    np.testing.assert_allclose(fit.radii_px, [22.0, 14.5], rtol=0.01)
    assert fit.contrast_scale == pytest.approx(pm.phase_per_px("POM", G) / wrong, rel=0.01)


def test_initial_model_errors_name_the_fix():
    d = np.arange(50.0)
    with pytest.raises(InputError, match="no sphere found"):
        pr.initial_model(d, np.zeros(50), sphere_phase_per_px=-0.3, n_spheres=1)
    with pytest.raises(InputError, match="no phase contrast"):
        pr.initial_model(d, np.zeros(50), sphere_phase_per_px=0.0)
    with pytest.raises(InputError, match="tube radii"):
        pr.SphereTheory(tube_material="PE", tube_outer_radius_m=1e-4, tube_inner_radius_m=2e-4)


def test_time_nodes():
    assert pr.time_nodes(10, 20.0, 50.0) == [(i, 50.0 * i) for i in range(10)]
    assert [i for i, _ in pr.time_nodes(10, 20.0, 100.0)] == [0, 2, 4, 6, 8]
    assert [i for i, _ in pr.time_nodes(10, 20.0, 20.0)] == list(range(10))  # no repeats
    assert [i for i, _ in pr.time_nodes(100, 20.0, 250.0, start_ms=100, stop_ms=700)] == [2, 7, 12]
    with pytest.raises(InputError, match="frame rate"):
        pr.time_nodes(10, 0.0, 50.0)


def test_csv_round_trip(tmp_path):
    d = np.arange(4.0)
    path = pr.write_profiles_csv(tmp_path / "p.csv", d, {"phase_rad": [0.0, -1.5, np.nan, 2.0]},
                                 pixel_size_m=P_M)
    lines = path.read_text().splitlines()
    assert lines[0] == "distance_px,distance_um,phase_rad"
    assert lines[3].endswith(",")  # NaN (outside the image) is an empty field
    data = np.genfromtxt(path, delimiter=",", skip_header=1)
    np.testing.assert_allclose(data[:, 1], d * P_M * 1e6, rtol=1e-8)


# --- the simulator's spheres phantom (POM spheres in a PE tube) ------------------------------


@pytest.fixture(scope="module")
def spheres():
    from napari_specktrack.simulate import simulate

    return simulate("spheres", size_px=256, seed=0)


def test_truth_profile_matches_theory_on_simulated_spheres(spheres):
    sphere = spheres.phantom["objects"][1]
    cy, _ = sphere["center_yx_px"]
    p0, p1 = (cy, 0.0), (cy, 255.0)
    _, measured = pr.sample_line(spheres.truth_phase, p0, p1)
    _, theory = pr.theory_from_phantom(spheres.phantom, spheres.geometry, p0, p1)
    # truth_phase is float32: agreement to its rounding (|φ| ≤ 40 rad → 4e-6 rad)
    assert np.abs(measured - theory).max() < 1e-5
    assert measured.min() < -20


def test_fit_on_simulated_spheres_from_the_phantom_model(spheres):
    """Start 2 px and 5 % off every object the line crosses: all come back within 2 %/0.5 px."""
    sphere = spheres.phantom["objects"][1]
    cy, _ = sphere["center_yx_px"]
    p0, p1 = (cy, 0.0), (cy, 255.0)
    d, v = pr.sample_line(spheres.truth_phase, p0, p1)
    nominal, _ = pm.model_from_phantom(spheres.phantom, spheres.geometry, p0, p1)
    assert sum(c.kind == "sphere" for c in nominal.components) >= 2
    start = pm.ProfileModel(tuple(
        dataclasses.replace(c, center_px=c.center_px + 2.0, radius_px=1.05 * c.radius_px)
        for c in nominal.components), offset_rad=0.5)
    fit = pr.fit_profile(d, v, start, nominal_radii_px=[c.radius_px for c in nominal.components])
    for got, want in zip(fit.model.components, nominal.components):
        assert got.radius_px == pytest.approx(want.radius_px, rel=0.02)
        assert got.center_px == pytest.approx(want.center_px, abs=0.5)
    assert fit.rmse_rad < 0.1


def test_fit_on_simulated_spheres_with_the_sphere_model(spheres):
    """The user's route: material + nominal radius, a short line across one sphere (the tube
    wall underneath absorbed by a linear background)."""
    phantom, g = spheres.phantom, spheres.geometry
    tube = phantom["objects"][0]
    # the sphere farthest from the tube walls, crossed along the direction that meets no other
    candidates = sorted((o for o in phantom["objects"] if o["shape"] == "sphere"),
                        key=lambda o: abs(o["center_yx_px"][1] - tube["center_x_px"]))
    for sphere in candidates:
        (cy, cx), r = sphere["center_yx_px"], sphere["radius_px"]
        for angle in np.radians(np.arange(0, 180, 15)):
            e = np.array([math.sin(angle), math.cos(angle)])
            p0, p1 = np.array([cy, cx]) - 1.4 * r * e, np.array([cy, cx]) + 1.4 * r * e
            if min(*p0, *p1) < 0 or max(*p0, *p1) > 255:
                continue
            model, _ = pm.model_from_phantom(phantom, g, p0, p1)
            if sum(c.kind == "sphere" for c in model.components) == 1:
                break
        else:
            continue
        break
    d, v = pr.sample_line(spheres.truth_phase, p0, p1)
    theory = pr.SphereTheory(material="POM", radius_m=r * g.object_pixel_size_m, n_spheres=1)
    result = pr.analyse_profile(d, v, g, theory=theory, line=(p0, p1), fit_slope=True)
    fit = result.fit
    assert fit is not None
    assert fit.radii_px[0] == pytest.approx(r, rel=0.02)
    assert fit.centers_px[0] == pytest.approx(1.4 * r, abs=0.5)
    assert result.theory_metrics["correlation"] > 0.99
