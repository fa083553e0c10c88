"""Issue 11, "raw tracebacks and misleading messages": every user mistake is one line naming
the input and the fix, exit status 2 — small, thin and RGB frames, bad weight files, bad
--out, absent devices, generation on tiny frames, usage mistakes, numbers out of range."""

from __future__ import annotations

import json
import os
import pickle
import re

import numpy as np
import pytest
from _safety_support import acquisition, error_line, geometry_file, run_cli, write_tif

from napari_specktrack import cli
from napari_specktrack.errors import SpecktrackError
from napari_specktrack.geometry import Geometry
from napari_specktrack.io import read_tiff


@pytest.fixture(scope="module")
def acq(tmp_path_factory):
    return acquisition(tmp_path_factory)


def _retrieve(acq, out, *extra, reference=None, sample=None):
    return ["retrieve", "--reference", reference or acq / "reference.tif", "--sample",
            sample or acq / "sample.tif", "--geometry", acq / "geometry.json", "--out", out, *extra]


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


# --- frames the tracking cannot take ----------------------------------------------------------
@pytest.mark.parametrize("case, fragment", [
    ("small", "the frames (20×20 px) are"),
    ("tiny", "only 8×8 px"),
    ("rgb", "a colour (RGB/RGBA) image"),
    ("thin", None),
    ("thin16", None),
    ("1-d", "holds no image (shape (96,))"),
])
def test_frames_of_the_wrong_size_or_kind(acq, tmp_path, capsys, case, fragment):
    ref, smp = read_tiff(acq / "reference.tif"), read_tiff(acq / "sample.tif")
    cut = {"small": lambda a: a[:20, :20], "tiny": lambda a: a[:8, :8],
           "rgb": lambda a: np.stack([a] * 3, axis=-1), "thin": lambda a: a[:24],
           "thin16": lambda a: a[:16],
           "1-d": lambda a: a[0]}[case]
    r = write_tif(tmp_path / "r.tif", cut(ref))
    s = write_tif(tmp_path / "s.tif", cut(smp))
    err = run_cli(capsys, _retrieve(acq, tmp_path / "out", reference=r, sample=s), acq, r, s,
                  rc=None if fragment is None else 2)
    if fragment is not None:
        assert fragment in error_line(err)
    elif ": error: " in err:  # the run's own suggestion is never blamed on the user
        assert "--window-px" in error_line(err) and "got -" not in err


# --- generator weight files -------------------------------------------------------------------
class _Evil:
    def __reduce__(self):
        return (os.system, ("touch EXECUTED",))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Damaged copies of the shipped generator, by what is wrong with them."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from napari_specktrack.learn.inference import PRETRAINED

    d = tmp_path_factory.mktemp("weights")
    state = load_file(str(PRETRAINED))
    with safe_open(str(PRETRAINED), framework="pt") as fh:
        meta = fh.metadata()
    first = "model.1.weight"
    made = {}

    def save(name, st, md=meta):
        save_file(st, str(d / name), metadata=md)
        made[name.split(".")[0]] = d / name

    block = "model.14.conv_block.1.weight"  # a residual block's convolution, resized
    save("wrong_shape.safetensors", {**state, block: torch.zeros(2, 2, 3, 3)})
    save("missing_key.safetensors", {k: v for k, v in state.items() if not k.startswith("model.13.")
                                     or k == "model.13.conv_block.1.weight"})
    save("bad_metadata.safetensors", state, {"specktrack": "{not json"})
    save("metadata_list.safetensors", state, {"specktrack": "[1, 2]"})
    norm = json.loads(meta["specktrack"])
    norm["normalisation"] = {"input_scale": -1.0, "target_min": 0.0, "target_max": 1.0}
    save("bad_normalisation.safetensors", state, {"specktrack": json.dumps(norm)})
    save("nan_weights.safetensors", {**state, first: torch.full_like(state[first], float("nan"))})
    save("int_weights.safetensors", {**state, first: state[first].to(torch.int32)})
    (d / "pickle.pt").write_bytes(pickle.dumps(_Evil()))
    made["pickle"] = d / "pickle.pt"
    (d / "empty.safetensors").write_bytes(b"")
    made["empty"] = d / "empty.safetensors"
    (d / "truncated.safetensors").write_bytes(PRETRAINED.read_bytes()[:5000])
    made["truncated"] = d / "truncated.safetensors"
    torch.save([1, 2, 3], d / "a_list.pt")
    made["a_list"] = d / "a_list.pt"
    torch.save({"generator": "no weights", "step": 3}, d / "checkpoint.pt")
    made["checkpoint"] = d / "checkpoint.pt"
    (d / "text.pth").write_text("latest_net_G")
    made["text"] = d / "text.pth"
    return made


WEIGHT_CASES = {
    "wrong_shape": "does not fit a pix2pixHD generator",
    "missing_key": "does not fit a pix2pixHD generator",
    "bad_metadata": "corrupt metadata",
    "metadata_list": "metadata of type list",
    "bad_normalisation": "normalisation",
    "nan_weights": "contain NaN/inf (a diverged training run?)",
    "int_weights": "not floating point",
    "pickle": "pickled Python objects",
    "empty": "is empty (0 bytes)",
    "truncated": "not a readable safetensors file",
    "a_list": "holds no generator weights",
    "checkpoint": "checkpoint without generator weights",
    "text": "could not be read as a weights-only torch file",
}


@pytest.mark.parametrize("case", sorted(WEIGHT_CASES))
def test_cli_bad_weight_files(acq, weights, tmp_path, capsys, case, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = run_cli(capsys, _retrieve(acq, tmp_path / "out", "--generator", weights[case],
                                    "--generator-device", "cpu"), acq, weights[case])
    line = error_line(err)
    assert str(weights[case]) in line and WEIGHT_CASES[case] in line
    assert "the sample" not in line, "the weights are blamed, not the images"
    assert not (tmp_path / "EXECUTED").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["wrong_shape", "nan_weights", "pickle", "empty"])
def test_api_bad_weight_files(weights, case):
    from napari_specktrack.learn.inference import load_generator

    with pytest.raises(SpecktrackError, match=re.escape(WEIGHT_CASES[case])):
        load_generator(weights[case], "cpu")


def test_a_safetensors_header_length_starting_with_0x80_is_no_pickle(tmp_path):
    """The 8-byte header length of a safetensors file can begin with any byte, 0x80 too (the
    first byte of a legacy torch pickle): the file is still read as safetensors."""
    from safetensors.torch import load_file, save_file

    from napari_specktrack.learn.inference import PRETRAINED, load_generator

    state, path = load_file(str(PRETRAINED)), tmp_path / "g.safetensors"
    for pad in range(256):
        save_file(state, str(path), metadata={"pad": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80
    assert load_generator(path, "cpu")[1]["preset"] == "lite"


def test_safetensors_are_read_by_content_whatever_the_name(tmp_path):
    import shutil

    from napari_specktrack.learn.inference import PRETRAINED, load_generator

    renamed = shutil.copy(PRETRAINED, tmp_path / "lite.pt")
    assert load_generator(renamed, "cpu")[1]["preset"] == "lite"


# --- --out ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case, fragment", [
    ("under-a-file", "is a file, not a folder"),
    ("a-file", "is a file; give a folder name"),
    ("nul", "contains a NUL character"),
    ("too-long", "longer than 255 bytes"),
    ("unwritable", "is not writable"),
])
def test_cli_bad_out_is_refused_before_computing(acq, tmp_path, capsys, case, fragment):
    if case == "unwritable":
        if os.geteuid() == 0:
            pytest.skip("root writes into any folder")
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        out = ro / "res"
    else:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        out = {"under-a-file": plain / "res", "a-file": plain, "nul": f"{tmp_path}/a\0b",
               "too-long": tmp_path / ("x" * 300)}[case]
    err = run_cli(capsys, _retrieve(acq, out), acq)
    assert fragment in error_line(err)


# --- devices ----------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, fragment", [
    (["--device", "cuda"], "device 'cuda' is not present"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--generator", "pretrained", "--generator-device", "cuda:3"], "device 'cuda:3' is not present"),
])
def test_cli_absent_devices(acq, tmp_path, capsys, argv, fragment):
    if _cuda() and "tpu" not in argv:
        pytest.skip("this machine has CUDA")
    err = run_cli(capsys, _retrieve(acq, tmp_path / "out", *argv), acq)
    assert (fragment in error_line(err) and "use 'auto' or 'cpu'" in err) or "use one of" in err


def test_cli_generate_on_an_absent_device(acq, tmp_path, capsys):
    if _cuda():
        pytest.skip("this machine has CUDA")
    err = run_cli(capsys, ["generate", "--reference", acq / "reference.tif", "--sample",
                           acq / "sample.tif", "--device", "cuda", "--out", tmp_path / "g.tif"], acq)
    assert "not present on this machine" in err and not (tmp_path / "g.tif").exists()


# --- generating on tiny frames ----------------------------------------------------------------
@pytest.fixture(scope="module")
def deep_generator(tmp_path_factory):
    """A small generator that halves the frames 4 times (as the paper preset does)."""
    import torch

    from napari_specktrack.learn.inference import export_safetensors
    from napari_specktrack.learn.networks import GeneratorConfig, GlobalGenerator

    torch.manual_seed(0)
    model = GlobalGenerator(GeneratorConfig(ngf=4, n_downsampling=4, n_blocks=1))
    meta = {"normalisation": {"input_scale": 1.0, "target_min": 0.0, "target_max": 2.0}}
    return export_safetensors(model, tmp_path_factory.mktemp("deep") / "deep.safetensors", meta)


@pytest.mark.parametrize("side, generator, fragment", [
    (8, "pretrained", "only 8×8 px"),
    (16, "deep", "needs more than 16 px a side"),
])
def test_cli_generate_on_tiny_frames(acq, deep_generator, tmp_path, capsys, side, generator,
                                     fragment):
    r = write_tif(tmp_path / "r.tif", read_tiff(acq / "reference.tif")[:side, :side])
    s = write_tif(tmp_path / "s.tif", read_tiff(acq / "sample.tif")[:side, :side])
    weights = deep_generator if generator == "deep" else "pretrained"
    err = run_cli(capsys, ["generate", "--reference", r, "--sample", s, "--generator", weights,
                           "--device", "cpu", "--out", tmp_path / "g.tif"], r, s)
    assert fragment in error_line(err)


def test_cli_generate_on_frames_just_large_enough(acq, deep_generator, tmp_path, capsys):
    r = write_tif(tmp_path / "r.tif", read_tiff(acq / "reference.tif")[:17, :17])
    s = write_tif(tmp_path / "s.tif", read_tiff(acq / "sample.tif")[:17, :17])
    run_cli(capsys, ["generate", "--reference", r, "--sample", s, "--generator", deep_generator,
                     "--device", "cpu", "--out", tmp_path / "g.tif"], r, s, rc=0)
    assert read_tiff(tmp_path / "g.tif").shape == (17, 17)


# --- usage mistakes argparse finds ------------------------------------------------------------
@pytest.mark.parametrize("argv, fragment", [
    (["retrieve", "--window-px", "abc"], "invalid int value: 'abc'"),
    (["retrieve", "--frobnicate"], "the following arguments are required"),
    (["frob"], "invalid choice: 'frob'"),
    ([], "the following arguments are required: COMMAND"),
    (["simulate", "--size", "1.5", "--out", "x"], "invalid int value"),
])
def test_usage_mistakes_exit_2_without_a_traceback(capsys, argv, fragment):
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "usage:" in err and fragment in err and "Traceback" not in err


def test_help_exits_0(capsys):
    assert cli.main(["retrieve", "--help"]) == 0
    assert "--overwrite" in capsys.readouterr().out


# --- numbers out of range ---------------------------------------------------------------------
@pytest.mark.parametrize("argv, fragment", [
    (["--window-px", "12"], "window_px must be odd"),
    (["--window-px", "1"], "window_px must be between 3 and 201"),
    (["--search-px", "0"], "search_px must be between 1 and 50"),
    (["--search-px", "500"], "search_px must be between 1 and 50"),
    (["--hot-pixel-threshold", "nan"], "hot_pixel_threshold must be a positive number"),
    (["--generator", "pretrained", "--tile-px", "8"], "tile_px must be at least 16"),
    (["--generator", "pretrained", "--batch-size", "0"], "batch_size must be between 1 and 1024"),
    (["--generator", "missing.safetensors"], "generator weights 'missing.safetensors' not found"),
])
def test_cli_retrieval_numbers_out_of_range(acq, tmp_path, capsys, argv, fragment):
    err = run_cli(capsys, _retrieve(acq, tmp_path / "out", *argv), acq)
    assert fragment in error_line(err)


@pytest.mark.parametrize("argv, fragment", [
    (["simulate", "--size", "0"], "size must be an integer ≥ 32"),
    (["simulate", "--size", "64", "--photons", "-1"], "photons_per_px must be positive"),
    (["simulate", "--size", "64", "--oversample", "0"], "oversample must be an integer 1–8"),
    (["simulate", "--size", "64", "--psf-sigma-px", "nan"], "detector_psf_sigma_px"),
    (["simulate", "--size", "64", "--pairs", "0"], "number of pairs must be ≥ 1"),
    (["simulate", "--size", "64", "--pairs", "-1"], "number of pairs must be ≥ 1"),
])
def test_cli_simulation_numbers_out_of_range(tmp_path, capsys, argv, fragment):
    err = run_cli(capsys, [*argv, "--out", tmp_path / "s"])
    assert fragment in error_line(err) and not (tmp_path / "s").exists()


@pytest.mark.parametrize("extra, fragment", [
    (["--crop", "0", "0"], "both sides must be positive"),
    (["--crop", "512", "512"], "larger than the 96×96 px frames"),
    (["--validation-fraction", "nan"], "--validation-fraction nan must be in [0, 1)"),
    (["--multiple", "0"], "--multiple 0 must be ≥ 1"),
])
def test_cli_pairs_numbers_out_of_range(acq, tmp_path, capsys, extra, fragment):
    argv = ["pairs", "--reference", acq / "reference.tif", "--sample", acq / "sample.tif",
            "--inline", acq / "inline.tif", "--grid", "--crop", "32", "32", *extra,
            "--out", tmp_path / "p"]
    err = run_cli(capsys, argv, acq)
    assert fragment in error_line(err)


@pytest.mark.parametrize("extra, fragment", [
    (["--plot", "{t}/p.xyz"], "give one of these extensions"),
    (["--out", "{a}/sample.tif"], "is a file; give a folder"),
    (["--frame", "5"], "--frame 5 needs a stack"),
    (["--width", "0"], "profile width must be a whole number"),
    (["--csv", "{t}/x.csv", "--json", "{t}/x.csv"], "must name different files"),
])
def test_cli_profile_mistakes(acq, tmp_path, capsys, extra, fragment):
    argv = ["profile", "--image", acq / "truth_phase.tif", "--line", "48", "0", "48", "95",
            "--geometry", acq / "geometry.json", "--no-fit",
            *(str(e).format(t=tmp_path, a=acq) for e in extra)]
    err = run_cli(capsys, argv, acq)
    assert fragment in error_line(err) and list(tmp_path.iterdir()) == []


# --- geometry files ---------------------------------------------------------------------------
@pytest.mark.parametrize("case, fragment", [
    ("a-tiff", "is not a text (JSON) file"),
    ("a-folder", "is a folder"),
    ("a-list", "must be a JSON object"),
    ("missing-key", "is missing ['source_size_m']"),
    ("nan", "must be positive and finite"),
    ("huge", "must be positive and finite"),
    ("not-json", "is not valid JSON"),
])
def test_cli_bad_geometry_files(acq, tmp_path, capsys, case, fragment):
    path = tmp_path / "geometry.json"
    if case == "a-tiff":
        path = acq / "sample.tif"
    elif case == "a-folder":
        path = acq
    elif case == "a-list":
        path.write_text("[1, 2]")
    elif case == "missing-key":
        g = Geometry().to_dict()
        del g["source_size_m"]
        path.write_text(json.dumps(g))
    elif case == "nan":
        path.write_text(json.dumps({**Geometry().to_dict(), "energy_keV": float("nan")}))
    elif case == "huge":
        geometry_file(path, acq)
        path.write_text(path.read_text().replace("15.0", "1" + "0" * 400))
    else:
        path.write_text("{not json")
    argv = ["retrieve", "--reference", acq / "reference.tif", "--sample", acq / "sample.tif",
            "--geometry", path, "--out", tmp_path / "out"]
    err = run_cli(capsys, argv, acq)
    assert fragment in error_line(err)


# --- interrupts and bugs ----------------------------------------------------------------------
def test_ctrl_c_exits_130_and_a_bug_keeps_its_traceback(monkeypatch, capsys):
    from napari_specktrack.retrieval import _cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "run", interrupted)
    assert cli.main(["retrieve", "--reference", "r", "--sample", "s", "--out", "o"]) == 130
    assert "interrupted" in capsys.readouterr().err

    def bug(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(_cli, "run", bug)
    with pytest.raises(ZeroDivisionError):  # not hidden: its traceback reaches the user
        cli.main(["retrieve", "--reference", "r", "--sample", "s", "--out", "o"])


def test_a_multi_line_error_is_printed_as_one_line(monkeypatch, capsys):
    from napari_specktrack.errors import InputError
    from napari_specktrack.retrieval import _cli

    def raises(args):
        raise InputError("first line\n  second line")

    monkeypatch.setattr(_cli, "run", raises)
    assert cli.main(["retrieve", "--reference", "r", "--sample", "s", "--out", "o"]) == 2
    assert capsys.readouterr().err == "specktrack retrieve: error: first line second line\n"


# --- the API ----------------------------------------------------------------------------------
@pytest.mark.parametrize("call, fragment", [
    (lambda: __import__("napari_specktrack.devices", fromlist=["x"]).resolve_device("cuda:7"),
     "not present"),
    (lambda: __import__("napari_specktrack.pipeline", fromlist=["x"]).RetrievalParams(
        window_px=True).validate(), "whole number"),
    (lambda: __import__("napari_specktrack.pipeline", fromlist=["x"]).GeneratorSpec(
        weights="nope.pt").validate(), "not found"),
    (lambda: Geometry.from_dict({"energy_kev": 15}), "unknown geometry key"),
    (lambda: Geometry.from_json("[" * 100_000), "not valid JSON"),
    (lambda: read_tiff("missing.tif"), "does not exist"),
])
def test_api_user_errors_are_specktrack_errors(call, fragment):
    with pytest.raises(SpecktrackError, match=fragment):
        call()
