"""The Training dock: 2 steps on 4 tiny pairs write a checkpoint and draw the losses and the
validation image; an existing run is replaced only when confirmed; Cancel stops a threaded
run with a checkpoint and Resume continues at its step; the model appears in the Generator
dock and generates. A tiny generator stands in for "lite" (as in test_learn_train).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
torch = pytest.importorskip("torch")
pytestmark = pytest.mark.gui

# the tiny "lite" preset and one torch thread (an autouse fixture)
from test_learn_train import _tiny_lite_one_thread  # noqa: E402, F401

from napari_specktrack.learn._checkpoint import load_checkpoint  # noqa: E402
from napari_specktrack.widgets._workers import NOTHREADS_ENV  # noqa: E402
from napari_specktrack.widgets.training import TrainingWidget  # noqa: E402
from napari_specktrack.widgets.training.dock import GENERATED_NAME, TARGET_NAME  # noqa: E402


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory):
    from napari_specktrack.simulate.pairs import write_simulated_pairs

    return write_simulated_pairs(tmp_path_factory.mktemp("pairs") / "pairs", 4, 48, seed=10,
                                 validation_fraction=0.25)


def _dock(viewer, pair_dir, run_dir, **fields):
    dock = TrainingWidget(viewer)
    viewer.window.add_dock_widget(dock)
    dock.pairs.value, dock.run_dir.value = pair_dir, run_dir
    dock.preset.value, dock.device.value = "lite", "cpu"
    dock.crop_h.value = dock.crop_w.value = 32
    for name, value in fields.items():
        getattr(dock, name).value = value
    return dock


def _steps(run_dir):
    from test_learn_train import csv_rows

    return [int(r["step"]) for r in csv_rows(run_dir / "losses.csv")]


def test_two_steps_write_a_checkpoint_and_the_model_generates(make_napari_viewer, monkeypatch,
                                                              pair_dir, tmp_path):
    from napari_specktrack.simulate import simulate
    from napari_specktrack.widgets.generator import GENERATED_INLINE_NAME, GeneratorWidget

    monkeypatch.setenv(NOTHREADS_ENV, "1")
    viewer = make_napari_viewer()
    generator = GeneratorWidget(viewer)
    viewer.window.add_dock_widget(generator)
    run_dir = tmp_path / "run"
    dock = _dock(viewer, pair_dir, run_dir, epochs=1, max_steps=2)
    assert not dock.resume_button.enabled
    assert dock.run()
    assert dock.runner.last_outcome.ok and dock.summary["steps"] == 2
    assert load_checkpoint(run_dir / "checkpoint.pt")["step"] == 2
    assert dock.plot.drawn_steps() == [1, 2] and len(dock.plot.loss_ax.lines) == 5
    assert all(np.isfinite(dock.plot.loss_ax.lines[0].get_ydata()))
    assert len(dock.plot.epochs) == 1 and 0 < dock.plot.ssim[0] <= 1
    generated = viewer.layers[GENERATED_NAME]
    assert generated.data.shape == (48, 48) and generated.metadata["held_out"]
    assert viewer.layers[TARGET_NAME].translate[1] > 0  # beside the generated image
    assert dock.progress.value == 2 and "epoch 0.667/0.667 · step 2/2" in dock.progress_text
    assert dock.resume_button.enabled

    asked = []
    dock.confirm = lambda title, text: asked.append(text) or False
    assert not dock.run()  # a run folder is never replaced silently
    assert asked and load_checkpoint(run_dir / "checkpoint.pt")["step"] == 2

    weights = str(run_dir / "generator.safetensors")  # the Generator dock lists the new model
    assert weights in generator.weights.choices
    generator.weights.value = weights
    assert "run (lite, step 2)" in generator.weights.current_choice
    assert "Model card" in generator.card_text()
    assert generator.spec().weights == weights
    acq = simulate("spheres", 48, seed=3)
    meta = {"geometry": acq.geometry.to_dict()}
    viewer.add_image(acq.reference, name="reference", metadata=meta)
    viewer.add_image(acq.sample, name="sample", metadata=meta)
    generator.run_button.native.click()
    assert generator.runner.last_outcome.ok
    inline = viewer.layers[GENERATED_INLINE_NAME].data
    assert inline.shape == (48, 48) and np.isfinite(inline).all()
    assert viewer.layers[GENERATED_INLINE_NAME].metadata["provenance"]["params"]["weights"] == weights


def test_cancel_saves_the_step_and_resume_continues_there(make_napari_viewer, monkeypatch,
                                                         pair_dir, tmp_path, qtbot):
    monkeypatch.delenv(NOTHREADS_ENV, raising=False)  # a real worker thread
    viewer = make_napari_viewer()
    run_dir = tmp_path / "run"
    dock = _dock(viewer, pair_dir, run_dir, epochs=200)
    assert dock.run()
    qtbot.waitUntil(lambda: len(dock.plot.drawn_steps()) >= 2, timeout=30_000)
    dock.cancel_button.native.click()
    assert dock.wait_until_done(60)
    assert dock.runner.last_outcome.cancelled and "Resume" in dock.status.value
    saved = load_checkpoint(run_dir / "checkpoint.pt")["step"]
    assert 2 <= saved < 600 and _steps(run_dir) == list(range(1, saved + 1))
    assert dock.resume_button.enabled

    monkeypatch.setenv(NOTHREADS_ENV, "1")
    dock.max_steps.value = saved + 2
    dock.resume_button.native.click()
    assert dock.runner.last_outcome.ok
    assert load_checkpoint(run_dir / "checkpoint.pt")["step"] == saved + 2
    assert _steps(run_dir) == list(range(1, saved + 3))  # every step once: continued exactly
    assert dock.plot.drawn_steps() == list(range(1, saved + 3))  # the curves continued too
