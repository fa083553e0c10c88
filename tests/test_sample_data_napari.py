"""napari really runs: the plugin's sample data open as layers with physical scale."""

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.gui


@pytest.mark.parametrize("key", ["spheres", "foam"])
def test_open_sample_data_in_viewer(make_napari_viewer, key):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-specktrack", key)
    names = [layer.name for layer in viewer.layers]
    assert {"reference", "sample", "in-line", "truth phase"} <= set(names)
    sample = viewer.layers["sample"]
    assert sample.data.shape == viewer.layers["reference"].data.shape
    # scale in µm: the object-plane pixel p / M = 3.25 µm / 1.0176
    np.testing.assert_allclose(sample.scale, [3.194, 3.194], rtol=1e-3)
    geometry = sample.metadata["geometry"]
    assert geometry["energy_keV"] == 15.0
    assert sample.metadata["provenance"]["step"] == "simulate"
    # the truth phase is physical: negative (matter advances the phase), tens of radians
    phase = viewer.layers["truth phase"].data
    assert phase.max() <= 1e-3 and phase.min() < -10
