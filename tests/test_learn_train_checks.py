"""Training refuses bad settings and bad pairs before it creates anything (issue 11).

Every case raises a SpecktrackError whose message names the option or the pair, and leaves no
run folder (nor a hidden staging folder) behind.
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_specktrack.errors import (  # noqa: E402
    DeviceError,
    FileFormatError,
    InputError,
    SpecktrackError,
)
from napari_specktrack.geometry import Geometry  # noqa: E402
from napari_specktrack.learn.train import TrainConfig, train  # noqa: E402


def _write_pairs(folder, n=3, size=(36, 40)):  # 36: not a multiple of 8, so never used whole
    from napari_specktrack.learn.pairs import write_pairs

    rng = np.random.default_rng(0)
    inputs = [rng.normal(0, 0.1, size).astype(np.float32) for _ in range(n)]
    targets = [1 + 0.1 * x for x in inputs]
    return write_pairs(folder, inputs, targets, [{"name": f"p{i}"} for i in range(n)], Geometry())


@pytest.fixture
def pairs(tmp_path):
    return _write_pairs(tmp_path / "pairs")


def _nothing_made(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir()) == ["pairs"]


OK = dict(preset="lite", epochs=1, crop_yx_px=(16, 16), ndf=8, max_steps=1)


@pytest.mark.parametrize("field, value, flag", [
    ("epochs", 0, "--epochs"), ("epochs", -3, "--epochs"), ("epochs", 1.5, "--epochs"),
    ("max_steps", 0, "--max-steps"), ("lr", -1.0, "--lr"), ("lr", 0.0, "--lr"),
    ("lr", math.nan, "--lr"), ("lr", math.inf, "--lr"), ("crop_yx_px", (0, 0), "--crop"),
    ("crop_yx_px", (-16, 16), "--crop"), ("crop_yx_px", (12, 16), "--crop"),
    ("crop_yx_px", (16,), "--crop"), ("crop_yx_px", (64, 16), "larger than pair 'p0'"),
    ("checkpoint_every_steps", 0, "--checkpoint-every"), ("ndf", 0, "--ndf"),
    ("ema_decay", 1.0, "--ema-decay"), ("ema_decay", -0.1, "--ema-decay"),
    ("seed", -1, "--seed"), ("l1_weight", -1.0, "--l1-weight"),
    ("grad_weight", math.nan, "--grad-weight"), ("beta1", 1.0, "beta1"),
    ("preset", "huge", "--preset"), ("num_d", 0, "num_d"),
])
def test_every_bad_number_is_refused_before_anything_is_made(pairs, tmp_path, field, value, flag):
    with pytest.raises(InputError, match=flag):
        train(pairs, tmp_path / "run", TrainConfig(**{**OK, field: value}))
    assert _nothing_made(tmp_path)


def test_crop_message_offers_the_nearest_valid_crop():
    with pytest.raises(InputError, match="use 16 24"):
        TrainConfig(crop_yx_px=(12, 17)).check()


@pytest.mark.parametrize("field, value, match", [
    ("init_weights", "missing.safetensors", "--init-weights"),
    ("vgg_weights", "missing.pth", "--vgg-weights"),
])
def test_missing_weight_files_are_refused(pairs, tmp_path, field, value, match):
    with pytest.raises(FileFormatError, match=match):
        train(pairs, tmp_path / "run", TrainConfig(**{**OK, field: str(tmp_path / value)}))
    assert _nothing_made(tmp_path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_device_error(pairs, tmp_path):
    with pytest.raises(DeviceError, match="not present"):
        train(pairs, tmp_path / "run", TrainConfig(**{**OK, "device": "cuda"}))
    assert _nothing_made(tmp_path)


def _damage(pairs, what):
    from napari_specktrack.io import read_json, write_json, write_tiff

    if what == "nan":
        img = np.ones((32, 40), np.float32)
        img[3, 4] = np.nan
        write_tiff(pairs / "targets" / "p1.tif", img)
    elif what == "3d":
        write_tiff(pairs / "inputs" / "p2.tif", np.zeros((2, 32, 40), np.float32))
        write_tiff(pairs / "targets" / "p2.tif", np.ones((2, 32, 40), np.float32))
    elif what == "shape":
        write_tiff(pairs / "targets" / "p2.tif", np.ones((32, 32), np.float32))
    else:
        index = read_json(pairs / "pairs.json")
        if what == "no geometry":
            del index["geometry"]
        elif what == "no name":
            del index["pairs"][1]["name"]
        elif what == "bad name":
            index["pairs"][1]["name"] = "../../x"
        write_json(pairs / "pairs.json", index)


@pytest.mark.parametrize("what, match", [
    ("nan", "pair 'p1': its target holds 1 NaN"), ("3d", r"pair 'p2': its input is \(2, 32, 40\)"),
    ("shape", "pair 'p2'"), ("no geometry", "geometry is invalid"), ("no name", "pair name None"),
    ("bad name", "'../../x' is not a safe"),
])
def test_bad_pairs_are_named_before_anything_is_made(pairs, tmp_path, what, match):
    _damage(pairs, what)
    with pytest.raises(SpecktrackError, match=match):
        train(pairs, tmp_path / "run", TrainConfig(**OK))
    assert _nothing_made(tmp_path)


def test_a_corrupt_checkpoint_is_a_format_error(pairs, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(FileFormatError, match="not a readable training checkpoint"):
        train(pairs, tmp_path / "run", resume=True)
    with pytest.raises(FileFormatError, match="nothing to resume"):
        train(pairs, tmp_path / "new", resume=True)


@pytest.mark.parametrize("argv, flag", [
    (["--epochs", "0"], "--epochs"), (["--max-steps", "0"], "--max-steps"),
    (["--lr", "nan"], "--lr"), (["--crop", "0", "0"], "--crop"), (["--threads", "0"], "--threads"),
    (["--checkpoint-every", "0"], "--checkpoint-every"), (["--ndf", "0"], "--ndf"),
])
def test_cli_exits_2_with_one_line_naming_the_option(pairs, tmp_path, capsys, argv, flag):
    from napari_specktrack.cli import main

    code = main(["train", "--pairs", str(pairs), "--out", str(tmp_path / "run"), "--crop", "16",
                 "16", *argv])
    err = capsys.readouterr().err
    assert code == 2 and flag in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert _nothing_made(tmp_path)
