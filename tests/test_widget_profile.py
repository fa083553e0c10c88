"""The Profile dock widget in a real napari viewer: live profiles, theory, fit, time nodes."""

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.gui

from napari_specktrack.geometry import Geometry  # noqa: E402
from napari_specktrack.physics import profiles as pr  # noqa: E402
from napari_specktrack.physics.theory import phase_map  # noqa: E402

N = 96
GEOMETRY = Geometry()
PHANTOM = {
    "medium": "air",
    "objects": [
        {"shape": "sphere", "center_yx_px": [40.0, 35.5], "radius_px": 16.0, "material": "POM"},
        {"shape": "sphere", "center_yx_px": [62.0, 68.0], "radius_px": 11.0, "material": "POM"},
    ],
}


@pytest.fixture(scope="module")
def truth():
    return phase_map(PHANTOM, GEOMETRY, (N, N)).astype(np.float32)


@pytest.fixture
def setup(make_napari_viewer, qtbot, truth):
    from napari_specktrack.widgets.profile import ProfileWidget

    viewer = make_napari_viewer()
    meta = {"geometry": GEOMETRY.to_dict(), "phantom": PHANTOM}
    viewer.add_image(truth, name="phase", scale=GEOMETRY.layer_scale_um, metadata=meta)
    widget = ProfileWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Profile")
    return viewer, widget


def _plotted(widget):
    return [(line.get_label(), np.asarray(line.get_ydata(), dtype=float)) for line in widget.ax.lines]


def test_line_moves_theory_and_fit_appear(setup, qtbot, truth):
    viewer, widget = setup
    shapes = widget.add_line_layer()
    # the line layer shares the image's scale, so its data coordinates are image pixels
    np.testing.assert_allclose(shapes.scale, viewer.layers["phase"].scale)
    shapes.add_lines(np.array([[40.0, 4.0], [40.0, 80.0]]))
    qtbot.waitUntil(lambda: len(widget.ax.lines) == 1, timeout=3000)
    _, expected = pr.sample_line(truth, (40, 4), (40, 80))
    (label, y), = _plotted(widget)
    assert label == "phase"
    np.testing.assert_allclose(y, expected, atol=1e-6)
    assert widget.ax.get_xlabel().endswith("(µm)")
    # x axis from the layer scale: the last sample sits at 76 px × 3.194 µm
    assert widget.ax.lines[0].get_xdata()[-1] == pytest.approx(76 * GEOMETRY.object_pixel_size_m * 1e6)

    # move the line (as a drag does, through the layer's data): the plot follows
    shapes.data = [np.array([[62.0, 40.0], [62.0, 92.0]])]
    _, moved = pr.sample_line(truth, (62, 40), (62, 92))
    qtbot.waitUntil(lambda: len(widget.ax.lines[0].get_ydata()) == moved.size
                    and np.allclose(widget.ax.lines[0].get_ydata(), moved, atol=1e-6), timeout=3000)

    # theory from the phantom in the layer metadata: matches the truth to rounding error
    widget.source_combo.setCurrentIndex(1)
    widget.theory_box.setChecked(True)
    qtbot.waitUntil(lambda: [lab for lab, _ in _plotted(widget)] == ["phase", "theory"], timeout=3000)
    theory = dict(_plotted(widget))["theory"]
    np.testing.assert_allclose(theory, moved, atol=1e-5)
    assert "theory: RMSE" in widget.metrics_label.text()

    # fit: a third curve, the sphere's radius and centre recovered
    widget.fit_btn.setChecked(True)
    qtbot.waitUntil(lambda: len(widget.ax.lines) == 3, timeout=3000)
    fit = widget.last["fit"]
    assert fit is not None
    (r_err,) = fit.radius_errors_rel()
    assert abs(r_err) < 0.01
    assert fit.centers_px[0] == pytest.approx(68.0 - 40.0, abs=0.2)
    assert "fit: RMSE" in widget.metrics_label.text() and "nominal" in widget.metrics_label.text()

    # the sphere model of the theory panel (POM, radius in µm) also draws and fits
    widget.source_combo.setCurrentIndex(0)
    widget.radius_unit.setCurrentText("µm")
    widget.radius_spin.setValue(11.0 * GEOMETRY.object_pixel_size_m * 1e6)
    qtbot.waitUntil(lambda: widget.last.get("fit") is not None
                    and widget.last["analysis"].theory_metrics is not None
                    and widget.source_combo.currentIndex() == 0
                    and widget.last["fit"].nominal_radii_px[0] == pytest.approx(11.0, rel=1e-3),
                    timeout=3000)
    fit = widget.last["fit"]
    assert fit.radii_px[0] == pytest.approx(11.0, rel=0.02)
    assert widget.last["analysis"].theory_metrics["rmse_rad"] < 0.1

    # a line across empty space: the profile is still drawn, the theory panel says why it has none
    shapes.data = [np.array([[88.0, 5.0], [88.0, 90.0]])]
    qtbot.waitUntil(lambda: "no sphere found" in widget.metrics_label.text(), timeout=3000)
    assert [lab for lab, _ in _plotted(widget)] == ["phase"]


def test_time_nodes_one_curve_per_frame_and_export(setup, qtbot, tmp_path):
    viewer, widget = setup
    # a 7-frame stack at 20 frames/s: a sphere growing 2 px per frame
    stack = np.stack([
        phase_map({"medium": "air", "objects": [
            {"shape": "sphere", "center_yx_px": [48.0, 48.0], "radius_px": 8.0 + 2 * i, "material": "POM"}
        ]}, GEOMETRY, (N, N), oversample=2)
        for i in range(7)
    ]).astype(np.float32)
    viewer.add_image(stack, name="foaming", scale=(1.0, *GEOMETRY.layer_scale_um),
                     metadata={"geometry": GEOMETRY.to_dict()})
    widget.set_images(["foaming"])
    shapes = widget.add_line_layer()
    shapes.add_lines(np.array([[48.0, 10.0], [48.0, 86.0]]))
    widget.rate_spin.setValue(20.0)
    widget.every_spin.setValue(100.0)  # every second frame: 0, 100, 200, 300 ms
    widget.time_box.setChecked(True)
    qtbot.waitUntil(lambda: len(widget.ax.lines) == 4, timeout=3000)
    labels = [lab for lab, _ in _plotted(widget)]
    assert labels == ["0 ms", "100 ms", "200 ms", "300 ms"]
    assert [t.get_text() for t in widget.ax.get_legend().get_texts()] == labels
    # each curve is that frame's profile: the dip deepens as the sphere grows (−2kδp R)
    depths = [-y.min() for _, y in _plotted(widget)]
    ppp = 2 * 0.3366  # rad per px of radius for POM at 15 keV (physics.md: −105 rad/mm)
    for depth, frame in zip(depths, (0, 2, 4, 6)):
        assert depth == pytest.approx(ppp * (8.0 + 2 * frame), rel=0.02)

    csv = tmp_path / "profiles.csv"
    widget.export_csv(str(csv))
    header = csv.read_text().splitlines()[0].split(",")
    assert header == ["distance_px", "distance_um", "0 ms (rad)", "100 ms (rad)", "200 ms (rad)",
                      "300 ms (rad)"]
    for ext in ("png", "svg"):
        widget.save_plot(str(tmp_path / f"plot.{ext}"))
        assert (tmp_path / f"plot.{ext}").stat().st_size > 1000
