"""The Profile dock in a real napari viewer: live profiles from the worker, theory and fit
against simulated truth, held parameters, time nodes, exports, responsiveness, settings."""

import time

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.gui

from napari_specktrack.geometry import Geometry  # noqa: E402
from napari_specktrack.physics import profiles as pr  # noqa: E402
from napari_specktrack.physics.theory import phase_map  # noqa: E402

N = 96
GEOMETRY = Geometry()
P_UM = GEOMETRY.object_pixel_size_m * 1e6
PHANTOM = {
    "medium": "air",
    "objects": [
        {"shape": "sphere", "center_yx_px": [40.0, 35.5], "radius_px": 16.0, "material": "POM"},
        {"shape": "sphere", "center_yx_px": [62.0, 68.0], "radius_px": 11.0, "material": "POM"},
    ],
}
WAIT_MS = 15_000  # the first fit loads the material tables (seconds on a loaded machine)


@pytest.fixture(scope="module")
def truth():
    return phase_map(PHANTOM, GEOMETRY, (N, N)).astype(np.float32)


@pytest.fixture
def setup(make_napari_viewer, qtbot, truth):
    from napari_specktrack.widgets.profile import ProfileWidget

    viewer = make_napari_viewer()
    meta = {"geometry": GEOMETRY.to_dict(), "phantom": PHANTOM, "unit": "rad"}
    viewer.add_image(truth, name="phase", scale=GEOMETRY.layer_scale_um, metadata=meta)
    widget = ProfileWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Profile")
    yield viewer, widget
    # no update in flight when the viewer closes
    qtbot.waitUntil(lambda: not (widget.runner.running or widget.export_runner.running
                                 or widget._timer.isActive()), timeout=WAIT_MS)


def _plotted(widget):
    return [(line.get_label(), np.asarray(line.get_ydata(), dtype=float))
            for line in widget.plot.ax.lines]


def _drawn(widget, labels):
    return [label for label, _ in _plotted(widget)] == labels


def test_line_moves_profile_theory_and_fit_follow(setup, qtbot, truth):
    viewer, widget = setup
    assert widget.theory.source.value == "phantom (layer metadata)"  # the layer carries one
    shapes = widget.add_line_layer()
    np.testing.assert_allclose(shapes.scale, viewer.layers["phase"].scale)  # data = image pixels
    shapes.add_lines(np.array([[40.0, 4.0], [40.0, 80.0]]))
    qtbot.waitUntil(lambda: _drawn(widget, ["phase"]), timeout=WAIT_MS)
    _, expected = pr.sample_line(truth, (40, 4), (40, 80))
    np.testing.assert_allclose(_plotted(widget)[0][1], expected, atol=1e-6)
    assert widget.plot.ax.get_xlabel().endswith("(µm)")
    assert widget.plot.ax.lines[0].get_xdata()[-1] == pytest.approx(76 * P_UM)

    # moving the line (as a drag does, through the layer's data): the worker recomputes
    shapes.data = [np.array([[62.0, 40.0], [62.0, 92.0]])]
    _, moved = pr.sample_line(truth, (62, 40), (62, 92))
    qtbot.waitUntil(lambda: widget.plot.ax.lines[0].get_ydata().size == moved.size
                    and np.allclose(widget.plot.ax.lines[0].get_ydata(), moved, atol=1e-6),
                    timeout=WAIT_MS)

    # the phantom's exact theory, then the fit: radius within 2 %, centre within 1 px
    widget.theory.on.value = True
    widget.theory.fit.value = True
    qtbot.waitUntil(lambda: _drawn(widget, ["phase", "theory", "fit"]), timeout=WAIT_MS)
    np.testing.assert_allclose(dict(_plotted(widget))["theory"], moved, atol=1e-5)
    fit = widget.view.analysed().fit
    assert fit.radii_px[0] == pytest.approx(11.0, rel=0.02)
    assert fit.centers_px[0] == pytest.approx(68.0 - 40.0, abs=1.0)
    text = widget.results.text.toPlainText()
    assert "theory (phase): RMSE" in text and "fit: RMSE" in text and "offset" in text
    (cells,) = widget.results.cells()  # the fit table: centre, radius (µm) ± 1σ, vs nominal
    assert cells[2].startswith(f"{11.0 * P_UM:.1f} ±") and cells[3].endswith(" %") and cells[4] == "—"
    assert f"nominal radius {11.0 * P_UM:.1f} µm" in widget.results.table.item(0, 3).toolTip()

    # the sphere model of the panel (POM, radius in µm) fits too
    widget.theory.source.value = "sphere model"
    widget.theory.radius_um.value = 11.0 * P_UM
    qtbot.waitUntil(lambda: widget.view.analysed() is not None
                    and widget.view.analysed().fit.nominal_radii_px[0] == pytest.approx(11.0, rel=1e-3),
                    timeout=WAIT_MS)
    assert widget.view.analysed().fit.radii_px[0] == pytest.approx(11.0, rel=0.02)

    # across empty space: the profile is still drawn, the panel says why there is no theory
    shapes.data = [np.array([[88.0, 5.0], [88.0, 90.0]])]
    qtbot.waitUntil(lambda: "no sphere found" in widget.results.text.toPlainText(), timeout=WAIT_MS)
    assert _drawn(widget, ["phase"])


def test_held_parameters_are_shown(setup, qtbot):
    _, widget = setup
    shapes = widget.add_line_layer()
    widget.theory.on.value = True
    widget.theory.fit.value = True
    # from past the big sphere's centre outwards: one edge only, the radius is held
    shapes.add_lines(np.array([[40.0, 40.0], [40.0, 80.0]]))
    qtbot.waitUntil(lambda: widget.view is not None and widget.view.analysed() is not None
                    and widget.view.analysed().fit is not None, timeout=WAIT_MS)
    fit = widget.view.analysed().fit
    assert "radius_px" in fit.held[0] and fit.radii_px[0] == 16.0  # held at the nominal value
    (cells,) = widget.results.cells()
    assert cells[4] == "radius" and cells[3] == "—"
    assert "only one edge" in widget.results.table.item(0, 4).toolTip()
    assert "held at nominal: radius" in widget.results.text.toPlainText()
    runs = []
    widget.runner.done.connect(runs.append)
    shapes.events.highlight()  # a hover: nothing changed, nothing is recomputed
    qtbot.wait(300)
    assert runs == []


def _growing_stack():
    """7 frames at 20 frames/s: a sphere growing 2 px per frame."""
    return np.stack([
        phase_map({"medium": "air", "objects": [{"shape": "sphere", "center_yx_px": [48.0, 48.0],
                                                 "radius_px": 8.0 + 2 * i, "material": "POM"}]},
                  GEOMETRY, (N, N), oversample=2)
        for i in range(7)
    ]).astype(np.float32)


def test_time_nodes_one_curve_per_node_and_exports(setup, qtbot, tmp_path, monkeypatch):
    viewer, widget = setup
    viewer.add_image(_growing_stack(), name="foaming", scale=(1.0, *GEOMETRY.layer_scale_um),
                     metadata={"geometry": GEOMETRY.to_dict()})
    widget.set_images(["foaming"])
    widget.add_line_layer().add_lines(np.array([[48.0, 10.0], [48.0, 86.0]]))
    ppp = 2 * 0.3366  # rad per px of radius for POM at 15 keV (physics.md: −105 rad/mm)
    viewer.dims.set_current_step(0, 4)  # without time nodes: the frame under the slider
    qtbot.waitUntil(lambda: _drawn(widget, ["foaming"]) and widget.view.results[0].curves[0].frame == 4,
                    timeout=WAIT_MS)
    assert -_plotted(widget)[0][1].min() == pytest.approx(ppp * 16.0, rel=0.02)
    widget.time.rate_hz.value = 20.0
    widget.time.every_ms.value = 100.0  # every second frame: 0, 100, 200, 300 ms
    widget.time.on.value = True
    labels = ["0 ms", "100 ms", "200 ms", "300 ms"]
    qtbot.waitUntil(lambda: _drawn(widget, labels), timeout=WAIT_MS)
    assert [t.get_text() for t in widget.plot.ax.get_legend().get_texts()] == labels
    for (_, y), frame in zip(_plotted(widget), (0, 2, 4, 6)):
        assert -y.min() == pytest.approx(ppp * (8.0 + 2 * frame), rel=0.02)

    csv = tmp_path / "profiles.csv"
    with qtbot.waitSignal(widget.export_runner.done, timeout=WAIT_MS):
        assert widget.export_csv(csv)
    header = csv.read_text().splitlines()[0].split(",")
    assert header == ["distance_px", "distance_um", *(f"foaming_t{t}ms_rad" for t in (0, 100, 200, 300))]
    # an existing file is refused unless the replacement is confirmed
    csv.write_text("keep me\n")
    assert widget.export_csv(csv) is False and csv.read_text() == "keep me\n"
    from qtpy.QtWidgets import QFileDialog, QMessageBox

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(csv), ""))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    widget.csv_button.native.click()
    assert csv.read_text() == "keep me\n"  # declined: nothing written
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(widget.export_runner.done, timeout=WAIT_MS):
        widget.csv_button.native.click()
    assert csv.read_text().startswith("distance_px,")
    for ext in ("png", "svg"):
        with qtbot.waitSignal(widget.export_runner.done, timeout=WAIT_MS):
            assert widget.save_plot(tmp_path / f"plot.{ext}")
        assert (tmp_path / f"plot.{ext}").stat().st_size > 1000


def test_gui_stays_responsive_during_a_fit(setup, qtbot, monkeypatch):
    from qtpy.QtCore import QTimer

    from napari_specktrack.physics.profiles import profile_set

    _, widget = setup
    original = profile_set.analyse_profile

    def slow(*args, **kwargs):  # a long fit, in miniature
        time.sleep(0.8)
        return original(*args, **kwargs)

    monkeypatch.setattr(profile_set, "analyse_profile", slow)
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    widget.lines.live.value = False
    widget.add_line_layer().add_lines(np.array([[62.0, 40.0], [62.0, 92.0]]))
    widget.theory.on.value = True
    widget.theory.fit.value = True
    timer.start()
    t0 = time.perf_counter()
    with qtbot.waitSignal(widget.runner.done, timeout=WAIT_MS):
        widget.run_button.native.click()
        assert widget.runner.running and widget.runner.worker is not None
    t1 = time.perf_counter()
    timer.stop()
    during = [t for t in ticks if t0 < t < t1]
    assert t1 - t0 > 0.7 and len(during) >= 20, (t1 - t0, len(during))
    assert widget.view.analysed().fit is not None


def test_settings_persist_fit_contrast_follows_the_layer_and_the_dock_fits(setup, qtbot):
    from napari_specktrack.widgets.profile import ProfileWidget

    viewer, widget = setup
    widget.theory.material.value = "PMMA"
    widget.theory.radius_um.value = 42.0
    widget.lines.x_unit.value = "px"
    again = ProfileWidget(viewer)  # a new session reads the stored values
    assert (again.theory.material.value, again.theory.radius_um.value) == ("PMMA", 42.0)
    assert again.lines.x_unit.value == "px"
    again.restore_button.native.click()
    assert again.theory.material.value == "POM" and again.lines.x_unit.value == "µm"
    qtbot.waitUntil(lambda: not (again.runner.running or again._timer.isActive()), timeout=WAIT_MS)

    assert widget.theory.fit_contrast.value is False  # a truth phase: the contrast is known
    retrieved = {"geometry": GEOMETRY.to_dict(), "provenance": {"step": "retrieve"}, "unit": "rad"}
    viewer.add_image(np.zeros((N, N), np.float32), name="retrieved", metadata=retrieved,
                     scale=GEOMETRY.layer_scale_um)
    widget.set_images(["retrieved"])
    assert widget.theory.fit_contrast.value is True  # retrieval underestimates the rims

    # every panel open, the tube on: the dock still fits a 1920 × 1080 screen's dock area
    widget.theory.on.value = widget.time.on.value = widget.theory.tube.value = True
    widget.theory.source.value = "sphere model"
    need = widget.native.minimumSizeHint()
    assert need.width() <= 450 and need.height() <= 960, need


def test_an_image_on_another_pixel_grid_is_sampled_on_its_own(setup, qtbot, truth):
    viewer, widget = setup
    binned = truth.reshape(N // 2, 2, N // 2, 2).mean(axis=(1, 3))  # 2 × 2 binning: pixels 2× larger
    viewer.add_image(binned, name="binned", translate=(0.5 * P_UM, 0.5 * P_UM),
                     scale=(2 * P_UM, 2 * P_UM), metadata={"unit": "rad"})
    widget.set_images(["phase"])
    widget.add_line_layer().add_lines(np.array([[62.0, 40.0], [62.0, 92.0]]))  # phase's pixels
    widget.set_images(["phase", "binned"])
    qtbot.waitUntil(lambda: widget.view is not None and len(widget.view.results) == 2, timeout=WAIT_MS)
    curves = {label: (d, p, v) for label, d, p, v in widget.view.curves()}
    (d, p_m, fine), (d2, p2_m, coarse) = curves["phase"], curves["binned"]
    assert p2_m == pytest.approx(2 * p_m, rel=1e-6)  # from the layer's scale: it has no geometry
    assert d2[-1] * p2_m == pytest.approx(d[-1] * p_m)  # the same line, in µm
    assert coarse.min() == pytest.approx(fine.min(), rel=0.1)  # the same sphere (binned)
    # the CSV: columns on the first (top) layer's grid, the other interpolated by distance in µm
    distance, columns = widget.view.table()
    assert list(columns) == ["binned_rad", "phase_rad"]
    np.testing.assert_allclose(columns["phase_rad"], np.interp(distance * p2_m, d * p_m, fine))
    assert any("no geometry" in n for n in widget.view.all_notes())
