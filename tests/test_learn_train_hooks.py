"""The hooks of the Training dock: validation split and reference crops, on_step / on_epoch
with the validation figures, cancel and exact resume; the model card and the list of models.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

# the tiny "lite" preset and one torch thread, as in test_learn_train (an autouse fixture)
from test_learn_train import TINY, _tiny_config, _tiny_lite_one_thread  # noqa: E402, F401

from napari_specktrack.errors import CancelledError  # noqa: E402
from napari_specktrack.learn.inference import load_generator  # noqa: E402
from napari_specktrack.learn.train import train  # noqa: E402


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory):
    """5 simulated 48-px pairs; the last is the validation pair; every pair has its reference."""
    from napari_specktrack.learn.pairs import write_pairs
    from napari_specktrack.simulate import simulate

    out = tmp_path_factory.mktemp("split") / "pairs"
    acqs = [simulate(("spheres", "foam")[i % 2], 48, seed=20 + i) for i in range(5)]
    records = [{"name": f"p{i}", "source": {"simulated": True, "phantom": "spheres"},
                "split": "validation" if i == 4 else "train"} for i in range(5)]
    return write_pairs(out, [a.sample - a.reference for a in acqs], [a.truth_inline for a in acqs],
                       records, acqs[0].geometry, references=[a.reference for a in acqs])


def _record(calls):
    def on_step(step, losses):
        calls.setdefault("steps", []).append((step, dict(losses)))

    def on_epoch(epoch, report):
        calls.setdefault("epochs", []).append((epoch, report))

    return {"on_step": on_step, "on_epoch": on_epoch}


@pytest.fixture(scope="module")
def straight_run(split_dir, tmp_path_factory):
    """An uninterrupted 2-epoch run (4 training pairs: 8 steps) with its callbacks recorded."""
    import napari_specktrack.learn.networks as nets

    base = tmp_path_factory.mktemp("straight")
    calls = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(nets.PRESETS, "lite", TINY)
        mp.setenv("SPECKTRACK_CONFIG_DIR", str(base / "config"))
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            summary = train(split_dir, base / "run", _tiny_config(epochs=2, checkpoint_every_steps=3),
                            **_record(calls))
        finally:
            torch.set_num_threads(before)
    return base, summary, calls


def test_on_step_and_on_epoch_report_losses_and_validation_figures(straight_run, split_dir):
    from skimage.metrics import structural_similarity

    from napari_specktrack.learn.inference import generate_inline
    from napari_specktrack.learn.pairs import read_pairs

    base, summary, calls = straight_run
    assert [s for s, _ in calls["steps"]] == list(range(1, 9))
    keys = {"g_gan", "g_feat", "g_vgg", "g_l1", "d_real", "d_fake"}
    assert all(set(losses) == keys and all(np.isfinite(list(losses.values())))
               for _, losses in calls["steps"])
    assert [e for e, _ in calls["epochs"]] == [1, 2]
    folder = read_pairs(split_dir)
    inp, target = folder.load(folder.names.index("p4"))
    for epoch, report in calls["epochs"]:
        assert report["step"] == 4 * epoch and report["epoch_complete"] and report["held_out"]
        assert report["pair"] == "p4" and report["generated"].shape == target.shape
        want = structural_similarity(target, report["generated"], data_range=float(np.ptp(target)))
        assert report["ssim"] == pytest.approx(want, abs=1e-9)
        assert report["losses"] == calls["steps"][4 * epoch - 1][1]
        assert report["phase_rms_rad"] > 0 and report["phase_rms_conventional_rad"] > 0
        assert report["phase_error_ratio"] == pytest.approx(
            report["phase_rms_rad"] / report["phase_rms_conventional_rad"])
    # the last report's image is what the exported generator makes of the validation input
    model = load_generator(base / "run" / "generator.safetensors")
    again = generate_inline(inp, np.zeros_like(inp), device="cpu", _model=model)
    np.testing.assert_allclose(calls["epochs"][-1][1]["generated"], again, atol=1e-5)
    assert summary["validation"]["ssim"] == calls["epochs"][-1][1]["ssim"]
    # the held-out pair is never trained on: 4 training pairs make an epoch
    assert json.loads((base / "run" / "run.json").read_text())["validation_pairs"] == ["p4"]


def test_phase_figures_are_zero_for_the_true_inline_image(split_dir):
    """The validator's phase figure is 0 when the generated image is the true one."""
    from napari_specktrack.learn._validation import Validator
    from napari_specktrack.learn.pairs import read_pairs

    folder = read_pairs(split_dir)
    v = Validator(folder, held_out=True, norm={"input_scale": 1, "target_min": 0, "target_max": 2},
                  generator_config=TINY.to_dict(), device="cpu")
    same = v.phase_figures(v.target)
    assert same["phase_rms_rad"] == pytest.approx(0.0, abs=1e-6) and same["phase_error_ratio"] < 1e-6
    flat = v.phase_figures(np.ones_like(v.target))  # no in-line contrast at all: worse
    assert flat["phase_rms_rad"] > 0.1


def test_cancel_saves_a_checkpoint_and_resume_continues_at_the_exact_step(straight_run, split_dir,
                                                                           tmp_path):
    base, _summary, straight = straight_run
    checks = {"n": 0}

    def cancel_before_step_4():
        checks["n"] += 1
        return checks["n"] > 3

    calls = {}
    with pytest.raises(CancelledError, match="step 3"):
        train(split_dir, tmp_path / "b", _tiny_config(epochs=2, checkpoint_every_steps=3),
              cancel=cancel_before_step_4, **_record(calls))
    assert int(torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["step"]) == 3
    assert "epochs" not in calls  # cancelled mid-epoch: no validation
    resumed = {}
    train(split_dir, tmp_path / "b", resume=True, **_record(resumed))
    assert [s for s, _ in resumed["steps"]] == [4, 5, 6, 7, 8]
    for (_, a), (_, b) in zip(straight["steps"][3:], resumed["steps"]):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-6)  # the same crops, the same updates
    a = load_generator(base / "run" / "generator.safetensors")[0].state_dict()
    b = load_generator(tmp_path / "b" / "generator.safetensors")[0].state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)
    assert resumed["epochs"][-1][1]["ssim"] == pytest.approx(straight["epochs"][-1][1]["ssim"],
                                                             abs=1e-4)
    card = json.loads((tmp_path / "b" / "model_card.json").read_text())
    assert [h["step"] for h in card["validation"]["history"]] == [4, 8]


def test_model_card_describes_the_run_and_the_registry_lists_it(straight_run, split_dir,
                                                                monkeypatch):
    from napari_specktrack.learn.models import list_models, register_model

    base, _summary, calls = straight_run
    card = json.loads((base / "run" / "model_card.json").read_text())
    assert card["training"]["step"] == 8 and card["training"]["epochs_done"] == 2
    data = card["data"]
    assert (data["n_training"], data["n_validation"]) == (4, 1)
    assert data["pair_sizes_px"] == {"48×48": 5} and data["crop_yx_px"] == [32, 32]
    assert data["sources"] == {"simulated spheres": 5} and data["geometry"]["energy_keV"] > 0
    assert card["recipe"]["train_config"]["epochs"] == 2 and card["recipe"]["init_weights"] is None
    assert card["training"]["last_losses"] == calls["steps"][-1][1]
    assert [h["ssim"] for h in card["validation"]["history"]] == [r["ssim"] for _, r in calls["epochs"]]
    assert any("4 pair(s) of one set-up" in x for x in card["limits"])
    assert any("simulation only" in x for x in card["limits"])
    text = (base / "run" / "MODEL_CARD.md").read_text()
    assert "# Model card: `run`" in text and "4 training, 1 validation" in text
    assert f"{calls['epochs'][-1][1]['ssim']:.4f}" in text
    # the loop registered the run in its own list
    monkeypatch.setenv("SPECKTRACK_CONFIG_DIR", str(base / "config"))
    models = list_models()
    assert models[0].name == "pretrained" and models[0].path == "pretrained"
    mine = [m for m in models if m.path == str((base / "run" / "generator.safetensors").resolve())]
    assert len(mine) == 1 and mine[0].name == "run" and mine[0].step == 8
    assert mine[0].preset == "lite" and mine[0].card == text
    again = register_model(base / "run")  # registering again updates, never duplicates
    assert again.created == mine[0].created and len(list_models()) == len(models)


def test_registry_skips_runs_whose_weights_are_gone_and_names_clashes(tmp_path, split_dir):
    from napari_specktrack.learn.inference import shipped_weights
    from napari_specktrack.learn.models import list_models, register_model

    def trained():  # the shipped models come first
        models = list_models()
        assert [m.path for m in models[:len(shipped_weights())]] == list(shipped_weights())
        return [m.name for m in models[len(shipped_weights()):]]

    for sub in ("a/run", "b/run"):
        train(split_dir, tmp_path / sub, _tiny_config(max_steps=1), register=False)
        register_model(tmp_path / sub)
    assert sorted(trained()) == ["run", "run (b)"]
    (tmp_path / "a" / "run" / "generator.safetensors").unlink()
    assert trained() == ["run (b)"]
