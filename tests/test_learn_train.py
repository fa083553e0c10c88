"""Training the generator: the loop, resume, cancel, the run-folder policy, the hooks for the
Training dock, fine-tuning, model cards and the list of known models.

Everything runs on tiny pairs (48–64 px) with a tiny generator in place of the lite preset.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_specktrack.errors import CancelledError, InputError, OutputError  # noqa: E402
from napari_specktrack.learn.inference import export_safetensors, load_generator  # noqa: E402
from napari_specktrack.learn.networks import GeneratorConfig  # noqa: E402
from napari_specktrack.learn.train import TrainConfig, train  # noqa: E402

TINY = GeneratorConfig(ngf=4, n_downsampling=2, n_blocks=1)


@pytest.fixture(autouse=True)
def _tiny_lite_one_thread(monkeypatch):
    """The tiny generator as "lite" and one torch thread (two spin-wait on a loaded 2-core
    machine: tiny steps ran 50x slower). conftest.py gives each test its own model list."""
    import napari_specktrack.learn.networks as nets

    monkeypatch.setitem(nets.PRESETS, "lite", TINY)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory):
    from napari_specktrack.simulate.pairs import write_simulated_pairs

    return write_simulated_pairs(tmp_path_factory.mktemp("pairs"), 4, 48, seed=10)


def _tiny_config(**kw):
    base = dict(preset="lite", epochs=3, crop_yx_px=(32, 32), ndf=8, n_layers_d=2,
                checkpoint_every_steps=2, seed=3)
    return TrainConfig(**{**base, **kw})


def test_training_reduces_the_loss(pair_dir, tmp_path, monkeypatch):
    import napari_specktrack.learn.networks as nets

    monkeypatch.setitem(nets.PRESETS, "lite", TINY)
    summary = train(pair_dir, tmp_path / "run", _tiny_config(epochs=8))
    rows = list(csv_rows(tmp_path / "run" / "losses.csv"))
    assert len(rows) == summary["steps"] == 32
    first = np.mean([float(r["g_l1"]) for r in rows[:6]])
    last = np.mean([float(r["g_l1"]) for r in rows[-6:]])
    assert last < first
    assert (tmp_path / "run" / "generator.safetensors").is_file()
    _model, meta = load_generator(tmp_path / "run" / "generator.safetensors")
    assert meta["normalisation"]["input_scale"] > 0 and meta["train_config"]["epochs"] == 8


def csv_rows(path):
    import csv

    with open(path) as fh:
        yield from csv.DictReader(fh)


def test_kill_and_resume_continues_from_the_saved_step(pair_dir, tmp_path, monkeypatch):
    import napari_specktrack.learn.networks as nets

    monkeypatch.setitem(nets.PRESETS, "lite", TINY)
    straight = train(pair_dir, tmp_path / "a", _tiny_config())
    calls = {"n": 0}

    def cancel_after_5():
        calls["n"] += 1
        return calls["n"] > 5

    with pytest.raises(CancelledError, match="step 5"):
        train(pair_dir, tmp_path / "b", _tiny_config(), cancel=cancel_after_5)
    ck = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert int(ck["step"]) == 5
    resumed = train(pair_dir, tmp_path / "b", resume=True)
    assert resumed["steps"] == straight["steps"] == 12
    a = load_generator(tmp_path / "a" / "generator.safetensors")[0].state_dict()
    b = load_generator(tmp_path / "b" / "generator.safetensors")[0].state_dict()
    for k in a:  # same data order, same updates: the resumed run ends where the straight one does
        torch.testing.assert_close(a[k], b[k], atol=1e-4, rtol=1e-3)
    rows = list(csv_rows(tmp_path / "b" / "losses.csv"))
    assert [int(r["step"]) for r in rows] == list(range(1, 13))


def test_exported_generator_is_the_moving_average_of_the_weights(pair_dir, tmp_path, monkeypatch):
    import napari_specktrack.learn.networks as nets

    monkeypatch.setitem(nets.PRESETS, "lite", TINY)
    torch.manual_seed(3)  # train() seeds torch with config.seed before building the generator
    init = nets.GlobalGenerator(TINY).state_dict()
    train(pair_dir, tmp_path / "one", _tiny_config(max_steps=1, ema_decay=0.999))
    ck = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=True)
    decay = 2.0 / 11.0  # the warm-up min(0.999, (1 + step)/(10 + step)) at step 1
    exported = load_generator(tmp_path / "one" / "generator.safetensors")[0].state_dict()
    for k, w in ck["generator"].items():
        want = decay * init[k] + (1 - decay) * w
        torch.testing.assert_close(ck["generator_ema"][k], want, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(exported[k], want, atol=1e-6, rtol=1e-5)
    assert any(not torch.equal(ck["generator"][k], exported[k]) for k in exported)
    # a checkpoint file given as --generator means its averaged weights too
    from_ck = load_generator(tmp_path / "one" / "checkpoint.pt")[0].state_dict()
    assert all(torch.equal(from_ck[k], exported[k]) for k in exported)
    # ema_decay 0: the raw weights are exported and no average is kept
    train(pair_dir, tmp_path / "raw", _tiny_config(max_steps=3, ema_decay=0.0))
    ck = torch.load(tmp_path / "raw" / "checkpoint.pt", weights_only=True)
    assert "generator_ema" not in ck
    raw = load_generator(tmp_path / "raw" / "generator.safetensors")[0].state_dict()
    assert all(torch.equal(ck["generator"][k], raw[k]) for k in raw)
    with pytest.raises(InputError, match="ema_decay"):
        train(pair_dir, tmp_path / "bad", _tiny_config(ema_decay=1.0))


def test_resume_after_a_hard_kill_logs_each_step_once(pair_dir, tmp_path, monkeypatch):
    import napari_specktrack.learn.networks as nets

    monkeypatch.setitem(nets.PRESETS, "lite", TINY)
    with pytest.raises(CancelledError):
        calls = {"n": 0}
        train(pair_dir, tmp_path / "k", _tiny_config(checkpoint_every_steps=4),
              cancel=lambda: (calls.__setitem__("n", calls["n"] + 1), calls["n"] > 4)[1])
    # a kill between checkpoints: the log ran ahead of checkpoint.pt (steps 5-6 not saved)
    with open(tmp_path / "k" / "losses.csv", "a") as fh:
        fh.write("5,1,1,1,0,1,1,1,0.1\n6,1,1,1,0,1,1,1,0.2\n")
    train(pair_dir, tmp_path / "k", resume=True)
    rows = list(csv_rows(tmp_path / "k" / "losses.csv"))
    assert [int(r["step"]) for r in rows] == list(range(1, 13))


def test_cli_sigterm_saves_a_checkpoint_at_the_current_step(pair_dir, tmp_path, monkeypatch):
    import argparse
    import os
    import signal

    import napari_specktrack.learn.networks as nets
    import napari_specktrack.learn.train as train_mod
    from napari_specktrack.learn import _cli_train

    monkeypatch.setitem(nets.PRESETS, "lite", TINY)
    real_train = train_mod.train

    def train_killed_at_step_3(*a, progress=None, **kw):
        def progress_and_kill(step, total):
            progress(step, total)
            if step == 3:
                os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` would
        return real_train(*a, progress=progress_and_kill, **kw)

    monkeypatch.setattr(train_mod, "train", train_killed_at_step_3)
    parser = argparse.ArgumentParser()
    _cli_train.add_arguments(parser)
    args = parser.parse_args(["--pairs", str(pair_dir), "--out", str(tmp_path / "s"), "--crop", "32", "32",
                              "--ndf", "8", "--epochs", "3", "--checkpoint-every", "100", "--threads", "1"])
    before = signal.getsignal(signal.SIGTERM)
    assert _cli_train.run(args) == 130
    assert int(torch.load(tmp_path / "s" / "checkpoint.pt", weights_only=True)["step"]) == 3
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is restored after the run


def test_gradient_l1_weighs_edges():
    """The finite-difference term: zero for images that differ by a constant, and a one-pixel
    shift of an edge costs it more than the value L1 in proportion (edges are few pixels)."""
    from napari_specktrack.learn._train_step import gradient_l1

    a = torch.zeros(1, 1, 32, 32)
    a[..., 16:] = 1.0
    assert float(gradient_l1(a + 0.25, a)) == 0.0  # 0.25: exact in binary
    shifted = torch.roll(a, 1, dims=-1)
    shifted[..., 0] = 0.0
    # one column wrong: value L1 1/32; the x differences disagree in two of 31 columns
    assert float(torch.nn.functional.l1_loss(shifted, a)) == pytest.approx(1 / 32)
    assert float(gradient_l1(shifted, a)) == pytest.approx(0.5 * 2 / 31)


def test_resume_with_more_epochs_continues_a_finished_run(pair_dir, tmp_path, monkeypatch):
    import napari_specktrack.learn.networks as nets

    monkeypatch.setitem(nets.PRESETS, "lite", TINY)
    train(pair_dir, tmp_path / "r", _tiny_config(epochs=1))
    with pytest.raises(InputError, match="larger"):
        train(pair_dir, tmp_path / "r", resume=True, epochs=0)
    with pytest.raises(InputError, match="positive"):
        train(pair_dir, tmp_path / "r", resume=True, lr=-1.0)
    with pytest.raises(InputError, match="l1-weight"):
        train(pair_dir, tmp_path / "r", resume=True, l1_weight=-1.0)
    more = train(pair_dir, tmp_path / "r", resume=True, epochs=2, lr=5e-5, l1_weight=40.0,
                 grad_weight=5.0)
    ck = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    assert ck["opt_g"]["param_groups"][0]["lr"] == ck["opt_d"]["param_groups"][0]["lr"] == 5e-5
    assert json.loads(ck["config"])["lr"] == 5e-5 and json.loads(ck["config"])["l1_weight"] == 40.0
    assert json.loads(ck["config"])["grad_weight"] == 5.0
    rows = list(csv_rows(tmp_path / "r" / "losses.csv"))  # the logged term carries the weight: 4x
    l1 = [float(r["g_l1"]) for r in rows]
    assert np.mean(l1[4:8]) > 2 * np.mean(l1[:4])
    assert more["steps"] == 8  # 4 pairs × 2 epochs, the first 4 steps kept from the first run
    rows = list(csv_rows(tmp_path / "r" / "losses.csv"))
    assert [int(r["step"]) for r in rows] == list(range(1, 9))
    # a step limit mid-epoch stops and exports there; a limit already reached only exports
    assert train(pair_dir, tmp_path / "r", resume=True, epochs=3, max_steps=10)["steps"] == 10
    assert load_generator(tmp_path / "r" / "generator.safetensors")[1]["step"] == 10
    (tmp_path / "r" / "generator.safetensors").unlink()
    assert train(pair_dir, tmp_path / "r", resume=True, max_steps=5)["steps"] == 10
    assert load_generator(tmp_path / "r" / "generator.safetensors")[1]["step"] == 10



# --- the run-folder policy: refuse, overwrite whole, resume; stale temporaries -----------------
def _digests(folder):
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def test_an_existing_run_is_refused_and_overwrite_replaces_it_whole(pair_dir, tmp_path):
    run = tmp_path / "run"
    train(pair_dir, run, _tiny_config(max_steps=2))
    (run / "notes.txt").write_text("an old file of the old run")
    before = _digests(run)
    with pytest.raises(OutputError, match=r"--resume to continue it.*--overwrite"):
        train(pair_dir, run, _tiny_config(max_steps=2))
    with pytest.raises(InputError, match="one of them"):
        train(pair_dir, run, resume=True, overwrite=True)
    assert _digests(run) == before

    def fail_at_step_1(step, losses):
        raise RuntimeError("crash before the first checkpoint")

    with pytest.raises(RuntimeError, match="crash"):  # the new run never checkpointed
        train(pair_dir, run, _tiny_config(max_steps=3, checkpoint_every_steps=100),
              overwrite=True, on_step=fail_at_step_1)
    assert _digests(run) == before  # the old run is untouched ...
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "run"]  # ... nothing staged
    train(pair_dir, run, _tiny_config(max_steps=3), overwrite=True)
    after = _digests(run)
    assert "notes.txt" not in after and after["losses.csv"] != before["losses.csv"]
    rows = list(csv_rows(run / "losses.csv"))
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert oct(os.stat(run / "checkpoint.pt").st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_out_must_be_a_writable_run_folder_never_a_file_or_the_pairs(pair_dir, tmp_path):
    (tmp_path / "file").write_text("x")
    for out, match in ((tmp_path / "file", "is a file"), (tmp_path / "file" / "run", "is a file"),
                       (pair_dir, "pair folder")):
        with pytest.raises(OutputError, match=match):
            train(pair_dir, out, _tiny_config(max_steps=1))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "thesis.tex").write_text("not a run")
    with pytest.raises(OutputError, match="not a training run"):
        train(pair_dir, tmp_path / "other", _tiny_config(max_steps=1), overwrite=True)
    assert (tmp_path / "other" / "thesis.tex").read_text() == "not a run"
    if os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "ro").mkdir(mode=0o500)
        with pytest.raises(OutputError, match="not writable"):
            train(pair_dir, tmp_path / "ro" / "run", _tiny_config(max_steps=1))


def test_a_killed_writes_part_file_is_removed_at_the_next_start(pair_dir, tmp_path):
    run = tmp_path / "run"
    train(pair_dir, run, _tiny_config(max_steps=2))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process that is gone, as one killed mid-write
    part = run / f".checkpoint.pt.{dead.pid}.0badc0de.part"
    part.write_bytes(b"half a checkpoint")
    with pytest.raises(InputError, match="larger"):
        train(pair_dir, run, resume=True, epochs=1)  # a refused resume still cleans up
    assert not part.exists()
    part.write_bytes(b"half a checkpoint")
    assert train(pair_dir, run, resume=True, max_steps=3)["steps"] == 3 and not part.exists()


def test_cli_refuses_an_existing_run_and_shows_progress(pair_dir, tmp_path, capsys):
    from napari_specktrack.cli import main

    args = ["train", "--pairs", str(pair_dir), "--out", str(tmp_path / "r"), "--crop", "32", "32",
            "--ndf", "8", "--max-steps", "3", "--threads", "1"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "train:" in err and "3/3" in err and "L1" in err  # steps, losses, rate/ETA bar
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "--overwrite" in err and "Traceback" not in err
    assert main([*args, "--overwrite"]) == 0


# --- fine-tuning ----------------------------------------------------------------------------
def test_fine_tuning_starts_the_generator_from_the_given_weights(pair_dir, tmp_path):
    from napari_specktrack.learn.networks import GlobalGenerator
    from napari_specktrack.provenance import sha256_file

    torch.manual_seed(123)
    start = GlobalGenerator(TINY)
    norm = {"input_scale": 0.5, "target_min": 0.4, "target_max": 1.6}
    weights = export_safetensors(start, tmp_path / "start.safetensors",
                                 {"normalisation": norm, "step": 77})
    tiny_lr = dict(max_steps=1, lr=1e-12)  # one step that moves no weight measurably
    train(pair_dir, tmp_path / "ft", _tiny_config(init_weights=str(weights), **tiny_lr))
    train(pair_dir, tmp_path / "scratch", _tiny_config(**tiny_lr))
    ft = torch.load(tmp_path / "ft" / "checkpoint.pt", weights_only=True)
    scratch = torch.load(tmp_path / "scratch" / "checkpoint.pt", weights_only=True)
    for k, w in start.state_dict().items():
        torch.testing.assert_close(ft["generator"][k], w, atol=1e-9, rtol=0)
        torch.testing.assert_close(ft["generator_ema"][k], w, atol=1e-9, rtol=0)
    assert any(not torch.allclose(ft["generator"][k], scratch["generator"][k]) for k in ft["generator"])
    for k, w in scratch["discriminator"].items():  # the discriminator starts fresh, as from scratch
        torch.testing.assert_close(ft["discriminator"][k], w, atol=1e-9, rtol=0)
    run = json.loads((tmp_path / "ft" / "run.json").read_text())
    assert run["init_weights"]["sha256"] == sha256_file(weights) and run["init_weights"]["step"] == 77
    assert run["normalisation"] == norm  # fine-tuning keeps the weights' own normalisation
    assert run["provenance"]["inputs"]["init_weights"]["sha256"] == sha256_file(weights)
    card = (tmp_path / "ft" / "MODEL_CARD.md").read_text()
    assert "start.safetensors" in card and "fine-tuned" in card


def test_fine_tuning_from_the_shipped_weights(pair_dir, tmp_path, monkeypatch):
    import napari_specktrack.learn.networks as nets
    from napari_specktrack.learn.inference import PRETRAINED

    monkeypatch.setitem(nets.PRESETS, "lite", GeneratorConfig(16, 3, 9))  # the real lite
    with pytest.raises(InputError, match="preset 'paper'"):
        train(pair_dir, tmp_path / "p", _tiny_config(preset="paper", init_weights="pretrained"))
    train(pair_dir, tmp_path / "ft", _tiny_config(init_weights="pretrained", max_steps=1, lr=1e-12))
    shipped, meta = load_generator(PRETRAINED)
    ft = torch.load(tmp_path / "ft" / "checkpoint.pt", weights_only=True)
    for k, w in shipped.state_dict().items():
        torch.testing.assert_close(ft["generator"][k], w, atol=1e-9, rtol=0)
    assert json.loads(ft["normalisation"]) == meta["normalisation"]
