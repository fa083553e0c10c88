"""Every front end runs the one pipeline: same inputs and parameters → the same bits, and one
provenance schema for every result (CLI files, TIFF metadata, sidecars, layers, the API)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_specktrack.cli import main
from napari_specktrack.provenance import SCHEMA, validate


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "acq"
    assert main(["simulate", "--phantom", "spheres", "--size", "96", "--seed", "5", "--out", str(out)]) == 0
    return out


def _cli(sim, out, *extra):
    assert main(["retrieve", "--reference", str(sim / "reference.tif"), "--sample",
                 str(sim / "sample.tif"), "--out", str(out), "--window-px", "11", "--search-px", "4",
                 *extra]) == 0
    return out


def _tiff_provenance(path):
    with tifffile.TiffFile(path) as tf:
        return json.loads(tf.pages[0].description)["provenance"]


def test_cli_outputs_carry_one_schema(sim, tmp_path):
    res = _cli(sim, tmp_path / "res", "--inline", str(sim / "inline.tif"))
    prov = json.loads((res / "provenance.json").read_text())
    validate(prov)
    assert prov["schema"] == SCHEMA and prov["step"] == "retrieve"
    assert prov["inputs"]["sample"]["sha256"] == __import__("hashlib").sha256(
        (sim / "sample.tif").read_bytes()).hexdigest()
    assert _tiff_provenance(res / "phase.tif") == prov
    sim_prov = json.loads((sim / "simulation.json").read_text())
    validate(sim_prov)
    assert _tiff_provenance(sim / "sample.tif") == sim_prov
    gen = tmp_path / "inline.tif"
    assert main(["generate", "--reference", str(sim / "reference.tif"), "--sample",
                 str(sim / "sample.tif"), "--device", "cpu", "--out", str(gen)]) == 0
    validate(_tiff_provenance(gen))
    validate(json.loads(gen.with_suffix(".json").read_text())["provenance"])


def test_api_result_carries_the_schema(sim):
    from napari_specktrack.pipeline import Frames, RetrievalParams, retrieve
    from napari_specktrack.simulate import Acquisition

    acq = Acquisition.load(sim)
    result = retrieve(Frames(acq.sample, acq.reference), acq.geometry,
                      RetrievalParams(window_px=11, search_px=4))
    validate(result.provenance)
    assert result.provenance["inputs"]["sample"] == {"array": [96, 96]}


pytest.importorskip("napari")


def _widget_phase(make_napari_viewer, monkeypatch, sim, method):
    from napari_specktrack._reader import read_file
    from napari_specktrack.widgets._workers import NOTHREADS_ENV
    from napari_specktrack.widgets.acquisition import AcquisitionWidget
    from napari_specktrack.widgets.generator import GeneratorWidget
    from napari_specktrack.widgets.retrieval import METHODS, RetrievalWidget

    monkeypatch.setenv(NOTHREADS_ENV, "1")
    viewer = make_napari_viewer()
    for name, layer_name in (("reference", "reference"), ("sample", "sample"), ("inline", "in-line")):
        data, kwargs, _ = read_file(sim / f"{name}.tif")
        viewer.add_image(data, **{**kwargs, "name": layer_name})
    acq_w, gen_w, ret_w = AcquisitionWidget(viewer), GeneratorWidget(viewer), RetrievalWidget(viewer)
    acq_w.assign_button.native.click()
    gen_w.device.value = "cpu"
    ret_w.auto_window.value = False
    ret_w.window_px.value, ret_w.search_px.value = 11, 4
    ret_w.method.value = METHODS[method]
    ret_w.run_button.native.click()
    assert ret_w.runner.last_outcome.ok
    layer = viewer.layers["phase"]
    validate(layer.metadata["provenance"])
    return layer


@pytest.mark.gui
@pytest.mark.parametrize("method", [1, 2], ids=["measured in-line", "generated in-line"])
def test_cli_and_widget_give_the_same_bits(sim, tmp_path, make_napari_viewer, monkeypatch, method):
    extra = (["--inline", str(sim / "inline.tif")] if method == 1
             else ["--generator", "pretrained", "--generator-device", "cpu"])
    cli_phase = tifffile.imread(_cli(sim, tmp_path / "cli", *extra) / "phase.tif")
    layer = _widget_phase(make_napari_viewer, monkeypatch, sim, method)
    assert np.array_equal(np.asarray(layer.data), cli_phase)
    cli_prov = json.loads((tmp_path / "cli" / "provenance.json").read_text())
    assert layer.metadata["provenance"]["params"] == cli_prov["params"]

    # the napari writer saves the layer with the same record in its sidecar
    from napari_specktrack._writer import write_single_image

    written = write_single_image(str(tmp_path / "saved" / "phase.tif"), layer.data,
                                 {"name": layer.name, "metadata": layer.metadata,
                                  "scale": list(layer.scale)})
    validate(json.loads(open(written[1]).read())["provenance"])
