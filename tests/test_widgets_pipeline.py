"""The user's path through the docks: roles → generate → retrieve → layers, on the real compute.

Jobs run synchronously (``SPECKTRACK_NOTHREADS``) where a test checks values, and in worker
threads where it checks that the GUI stays responsive and that Cancel stops a run.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.gui

from qtpy.QtCore import QTimer  # noqa: E402

from napari_specktrack.pipeline import OUTPUT_FIELDS  # noqa: E402
from napari_specktrack.provenance import validate  # noqa: E402
from napari_specktrack.simulate import simulate  # noqa: E402
from napari_specktrack.widgets._session import session  # noqa: E402
from napari_specktrack.widgets._workers import NOTHREADS_ENV  # noqa: E402
from napari_specktrack.widgets.acquisition import AcquisitionWidget  # noqa: E402
from napari_specktrack.widgets.generator import GENERATED_INLINE_NAME, GeneratorWidget  # noqa: E402
from napari_specktrack.widgets.retrieval import METHODS, RetrievalWidget  # noqa: E402

RESULT_NAMES = [f.layer for f in OUTPUT_FIELDS]


def _slow(monkeypatch, module, attr, seconds):
    """Make ``module.attr`` take ``seconds`` longer per call (a long stack, in miniature)."""
    original = getattr(module, attr)

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, attr, slow)


def add_acquisition(viewer, acq):
    meta = {"geometry": acq.geometry.to_dict(), "provenance": acq.provenance()}
    scale = acq.geometry.layer_scale_um
    stack = (1.0,) if acq.sample.ndim == 3 else ()
    viewer.add_image(acq.reference, name="reference", scale=scale, metadata=meta)
    viewer.add_image(acq.sample, name="sample", scale=(*stack, *scale), metadata=meta)
    viewer.add_image(acq.inline, name="in-line", scale=(*stack, *scale), metadata=meta)


def docked(viewer):
    widgets = AcquisitionWidget(viewer), GeneratorWidget(viewer), RetrievalWidget(viewer)
    for w in widgets:
        viewer.window.add_dock_widget(w)
    widgets[0].assign_button.native.click()
    return widgets


def test_user_path_roles_generate_retrieve(make_napari_viewer, monkeypatch):
    monkeypatch.setenv(NOTHREADS_ENV, "1")  # deterministic: jobs run in the main thread
    viewer = make_napari_viewer()
    acq = simulate("smooth", 128, seed=0)
    add_acquisition(viewer, acq)
    _, gen_w, ret_w = docked(viewer)
    assert session(viewer).assignment.geometry == acq.geometry  # taken from the layer metadata

    gen_w.run_button.native.click()
    generated = viewer.layers[GENERATED_INLINE_NAME]
    assert generated.data.shape == (128, 128)
    assert generated.metadata["provenance"]["step"] == "generate"
    whole = generated.data.copy()
    gen_w.tile_px.value = 48  # tiles reproduce the whole-frame image (layer by layer, exact)
    gen_w.run_button.native.click()
    assert viewer.layers[GENERATED_INLINE_NAME] is generated  # updated in place
    assert generated.metadata["provenance"]["params"]["tile_px"] == 48
    np.testing.assert_allclose(generated.data, whole, atol=1e-3)

    ret_w.suggest_button.native.click()
    assert not ret_w.auto_window.value and ret_w.window_px.value % 2 == 1
    ret_w.method.value = METHODS[2]  # generated in-line, with the Generator dock's settings
    ret_w.run_button.native.click()
    assert ret_w.runner.last_outcome.ok
    prov = viewer.layers["phase"].metadata["provenance"]
    assert prov["params"]["inline"] == "generated" and prov["params"]["generator"]["tile_px"] == 48
    validate(prov)

    ret_w.method.value = METHODS[1]  # the values are checked with the measured in-line image
    ret_w.run_button.native.click()
    phase = viewer.layers["phase"]
    assert viewer.layers.selection.active is phase and phase.visible
    for name in RESULT_NAMES:
        layer = viewer.layers[name]
        assert layer.data.shape == (128, 128) and layer.data.dtype == np.float32
        assert layer.visible == (name == "phase")  # the other results are added hidden
        np.testing.assert_allclose(layer.scale, acq.geometry.layer_scale_um, rtol=1e-12)
        assert tuple(str(u) for u in layer.units) == ("micrometer", "micrometer")
        prov = layer.metadata["provenance"]
        assert prov["inputs"] == {"reference": {"layer": "reference"}, "sample": {"layer": "sample"},
                                  "inline": {"layer": "in-line"}}
        assert prov["params"]["window_px"] == ret_w.window_px.value
    err = (phase.data - phase.data.mean()) - (acq.truth_phase - acq.truth_phase.mean())
    assert np.sqrt(np.mean(err**2)) < 0.1 * float(np.ptp(acq.truth_phase))  # 10 % of the range
    dx = viewer.layers["dx"].data[16:-16, 16:-16]
    assert np.median(np.abs(dx - acq.truth_dx[16:-16, 16:-16])) < 0.2  # px

    phase.name = "my phase"  # a renamed result layer is still the one updated
    ret_w.method.value = METHODS[0]
    ret_w.run_button.native.click()
    assert viewer.layers["my phase"] is phase and "phase" not in viewer.layers
    assert phase.metadata["provenance"]["params"]["method"] == "conventional"
    t = viewer.layers["transmission"].data[16:-16, 16:-16]
    # the smooth PMMA bumps absorb 0.5–2 %: 0.01 absolute is half the contrast at most
    assert np.median(np.abs(t - acq.truth_transmission[16:-16, 16:-16])) < 0.01


def test_retrieval_reuses_the_generated_layer_made_with_the_same_settings(make_napari_viewer,
                                                                           monkeypatch):
    from napari_specktrack.learn import inference

    monkeypatch.setenv(NOTHREADS_ENV, "1")
    viewer = make_napari_viewer()
    add_acquisition(viewer, simulate("smooth", 64, seed=1))
    _, gen_w, ret_w = docked(viewer)
    gen_w.run_button.native.click()
    calls = []
    original = inference.generate_inline
    monkeypatch.setattr(inference, "generate_inline", lambda *a, **k: calls.append(1) or original(*a, **k))
    ret_w.method.value = METHODS[2]
    ret_w.run_button.native.click()
    assert ret_w.runner.last_outcome.ok and calls == []  # the layer's images were used
    gen_w.orientations.value = True  # other settings: the network runs again
    ret_w.run_button.native.click()
    assert calls and ret_w.runner.last_outcome.ok


def test_whole_stack_runs_in_background_and_gui_stays_responsive(make_napari_viewer, monkeypatch,
                                                                   qtbot):
    from napari_specktrack.retrieval import methods

    monkeypatch.delenv(NOTHREADS_ENV, raising=False)
    viewer = make_napari_viewer()
    acq = simulate("foaming", 64, seed=1, frames=5)
    add_acquisition(viewer, acq)
    _, _, ret_w = docked(viewer)
    _slow(monkeypatch, methods, "retrieve_frame", 0.15)  # ≥ 0.75 s in the worker
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    ret_w.scope.value = "all frames"
    progressed = []  # when the worker reported each frame (queued to the main thread)
    ret_w.runner._relay.progressed.connect(lambda *_: progressed.append(time.perf_counter()))
    t0 = time.perf_counter()
    ret_w.run_button.native.click()
    assert ret_w.runner.running and ret_w.runner.worker is not None
    assert not ret_w.run_button.enabled and ret_w.cancel_button.enabled
    with qtbot.waitSignal(ret_w.runner.done, timeout=60_000):
        pass
    elapsed = time.perf_counter() - t0
    timer.stop()
    assert ret_w.runner.last_outcome.ok
    # the event loop ran throughout the computing (adding the layers afterwards takes its time)
    during = [t for t in ticks if t0 < t < progressed[-1]]
    assert elapsed > 0.7 and len(during) >= 20, (elapsed, len(during))
    assert max(np.diff([t0, *during, progressed[-1]])) < 0.5
    phase = viewer.layers["phase"]
    assert phase.data.shape == (5, 64, 64)
    assert phase.metadata["provenance"]["frames"] == [0, 1, 2, 3, 4]
    assert ret_w.run_button.enabled and not ret_w.cancel_button.enabled


def test_cancel_stops_a_long_stack_run_and_changes_nothing(make_napari_viewer, monkeypatch, qtbot):
    from napari_specktrack.learn import inference
    from napari_specktrack.retrieval import methods

    monkeypatch.delenv(NOTHREADS_ENV, raising=False)
    viewer = make_napari_viewer()
    add_acquisition(viewer, simulate("foaming", 64, seed=2, frames=40))
    _, gen_w, ret_w = docked(viewer)
    _slow(monkeypatch, methods, "retrieve_frame", 0.1)  # 40 frames: ≥ 4 s if not cancelled
    _slow(monkeypatch, inference, "generate_inline", 0.1)
    n_layers = len(viewer.layers)
    for widget in (ret_w, gen_w):
        widget.scope.value = "all frames"
        t0 = time.perf_counter()
        widget.run_button.native.click()
        qtbot.wait(250)
        assert widget.runner.running
        with qtbot.waitSignal(widget.runner.done, timeout=10_000):
            widget.cancel_button.native.click()
        assert widget.runner.last_outcome.cancelled
        assert time.perf_counter() - t0 < 3.0, "cancel must stop within a frame or two"
        assert len(viewer.layers) == n_layers, "a cancelled run adds no layer"
        assert widget.run_button.enabled and "cancelled" in widget.status.value


def test_frame_range_scope(make_napari_viewer, monkeypatch):
    monkeypatch.setenv(NOTHREADS_ENV, "1")
    viewer = make_napari_viewer()
    add_acquisition(viewer, simulate("foaming", 48, seed=3, frames=4))
    _, _, ret_w = docked(viewer)
    ret_w.scope.value = "frame range"
    assert not ret_w.first_frame.native.isHidden()  # shown for a range
    ret_w.first_frame.value, ret_w.last_frame.value = 1, 2
    ret_w.run_button.native.click()
    assert viewer.layers["phase"].data.shape == (2, 48, 48)
    assert viewer.layers["phase"].metadata["frames"] == [1, 2]
    ret_w.last_frame.value = 9  # outside the stack: a notification, nothing runs
    assert ret_w.run() is False and "not inside" in ret_w.status.value


def test_preview_follows_the_slider(make_napari_viewer, monkeypatch, qtbot):
    monkeypatch.setenv(NOTHREADS_ENV, "1")
    viewer = make_napari_viewer()
    add_acquisition(viewer, simulate("foaming", 64, seed=3, frames=4))
    _, _, ret_w = docked(viewer)
    ret_w.follow.value = True
    viewer.dims.set_current_step(0, 2)
    qtbot.waitUntil(lambda: "phase" in viewer.layers, timeout=10_000)
    assert viewer.layers["phase"].data.shape == (64, 64)
    assert viewer.layers["phase"].metadata["frames"] == [2]
    viewer.dims.set_current_step(0, 3)
    qtbot.waitUntil(lambda: viewer.layers["phase"].metadata["frames"] == [3], timeout=10_000)


def test_missing_measured_inline_is_a_notification(make_napari_viewer, monkeypatch):
    from napari.utils.notifications import notification_manager

    monkeypatch.setenv(NOTHREADS_ENV, "1")
    viewer = make_napari_viewer()
    add_acquisition(viewer, simulate("smooth", 64, seed=0))
    viewer.layers.remove("in-line")
    _, _, ret_w = docked(viewer)
    ret_w.method.value = METHODS[1]
    n = len(notification_manager.records)
    assert ret_w.run() is False
    assert any("in-line layer" in str(r.message) for r in notification_manager.records[n:])
    assert "phase" not in viewer.layers


def test_settings_persist_between_sessions_and_restore_defaults(make_napari_viewer):
    viewer = make_napari_viewer()
    w = RetrievalWidget(viewer)
    w.method.value = METHODS[1]
    w.integration.value = "kottler"
    again = RetrievalWidget(viewer)  # a new session reads the stored values
    assert again.method.value == METHODS[1] and again.integration.value == "kottler"
    again.restore_button.native.click()
    assert again.method.value == METHODS[0] and again.integration.value == "frankot-chellappa"
    assert RetrievalWidget(viewer).integration.value == "frankot-chellappa"


def test_devices_offered_are_the_ones_present(make_napari_viewer):
    from napari_specktrack.devices import available_devices

    w = GeneratorWidget(make_napari_viewer())
    assert list(w.device.choices) == ["auto", *available_devices()]


def test_all_frames_into_a_zarr_store_through_the_batch_path(make_napari_viewer, monkeypatch,
                                                              tmp_path):
    from napari_specktrack._reader import read_file
    from napari_specktrack.cli import main

    monkeypatch.setenv(NOTHREADS_ENV, "1")
    sim = tmp_path / "sim"
    assert main(["simulate", "--phantom", "foaming", "--size", "48", "--frames", "3", "--out",
                 str(sim)]) == 0
    viewer = make_napari_viewer()
    for name in ("reference", "sample", "inline"):
        data, kwargs, _ = read_file(sim / f"{name}.tif")
        viewer.add_image(data, **{**kwargs, "name": "in-line" if name == "inline" else name})
    _, _, ret_w = docked(viewer)
    ret_w.auto_window.value = False
    ret_w.window_px.value, ret_w.search_px.value = 9, 3
    ret_w.method.value = METHODS[1]
    ret_w.to_zarr.value = True
    ret_w.store.value = str(tmp_path / "out.zarr")
    assert ret_w.run() is False and "all frames" in ret_w.status.value  # scope first
    ret_w.scope.value = "all frames"
    ret_w.run_button.native.click()
    assert ret_w.runner.last_outcome.ok, ret_w.status.value
    phase = viewer.layers["phase"]
    assert type(phase.data).__module__.startswith("dask") and phase.data.shape == (3, 48, 48)
    assert main(["batch", "--reference", str(sim / "reference.tif"), "--sample",
                 str(sim / "sample.tif"), "--inline", str(sim / "inline.tif"), "--workers", "0",
                 "--window-px", "9", "--search-px", "3", "--out", str(tmp_path / "cli.zarr")]) == 0
    import zarr

    cli = zarr.open_group(str(tmp_path / "cli.zarr"))["phase"][:]
    np.testing.assert_array_equal(np.asarray(phase.data), cli)
    ret_w.run_button.native.click()  # the same settings again: resumed, nothing recomputed
    assert "0 frames written" in ret_w.status.value and "3 already there" in ret_w.status.value


def test_material_regions_painted_in_a_labels_layer_reach_the_fusion(make_napari_viewer,
                                                                    monkeypatch):
    """The user paints the tube walls of a spheres acquisition in a Labels layer, picks it as
    the material regions with 1=PE and the sample material POM, and retrieves: the phase is the
    API's with the same labels, and the provenance names the layer and the materials. A bad
    material entry is a notification, not a traceback."""
    from napari_specktrack.pipeline import Frames, RetrievalParams, retrieve

    monkeypatch.setenv(NOTHREADS_ENV, "1")
    viewer = make_napari_viewer()
    acq = simulate("spheres", 128, seed=3)
    add_acquisition(viewer, acq)
    *_, ret_w = docked(viewer)
    labels, materials = acq.material_regions()
    assert ret_w.fusion_regions.value is None  # none offered until a Labels layer exists
    painted = viewer.add_labels(labels, name="walls", scale=acq.geometry.layer_scale_um)
    ret_w.auto_window.value = False
    ret_w.window_px.value, ret_w.search_px.value = 11, 5
    ret_w.method.value = METHODS[1]
    ret_w.fusion_material.value = "POM"
    ret_w.fusion_regions.value = painted
    ret_w.region_materials.value = "1=PE"
    ret_w.run_button.native.click()
    assert ret_w.runner.last_outcome.ok
    prov = viewer.layers["phase"].metadata["provenance"]
    assert prov["params"]["fusion_region_materials"] == {"1": "PE"}
    assert prov["inputs"]["fusion_regions"] == {"layer": "walls"}
    params = RetrievalParams.for_inline("measured", window_px=11, search_px=5, fusion_material="POM",
                                        fusion_region_materials=materials)
    api = retrieve(Frames(acq.sample, acq.reference, inline=acq.inline), acq.geometry, params,
                   regions=labels)
    np.testing.assert_allclose(viewer.layers["phase"].data, api.retrieval.phase_rad, rtol=0, atol=1e-5)

    ret_w.region_materials.value = "PE"
    ret_w.run_button.native.click()
    assert "LABEL=MATERIAL" in ret_w.status.value

    ret_w.paint_button.native.click()  # a fresh layer to paint, on the frames' grid, chosen
    fresh = viewer.layers["material regions"]
    assert fresh.data.shape == labels.shape and not fresh.data.any()
    np.testing.assert_allclose(fresh.scale, viewer.layers["reference"].scale)
    assert ret_w.fusion_regions.value is fresh and fresh.mode == "paint" and fresh.selected_label == 1


def test_a_regions_layer_needs_assigned_frames(make_napari_viewer):
    viewer = make_napari_viewer()
    ret_w = RetrievalWidget(viewer)
    ret_w.paint_button.native.click()
    assert len(viewer.layers) == 0 and ret_w.status.value  # a notification, no layer
