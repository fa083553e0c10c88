"""Write docs/screenshot.png: the demo viewer with the widgets docked and retrieved layers.

Run from the repository root (needs a display; on a headless machine use Xvfb)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/make_screenshot.py

It opens ``specktrack demo`` (simulated POM spheres in a PE tube at 15 keV), runs the
Retrieval widget (double exposure with the measured in-line image) on the sample, shows the
retrieved phase next to the truth, and grabs the whole window. If the retrieval module is not
installed, the screenshot shows the inputs only and the script says so.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "screenshot.png")
    parser.add_argument("--size", type=int, nargs=2, default=(1600, 1000), metavar=("W", "H"),
                        help="window size in screen pixels")
    args = parser.parse_args(argv)

    os.environ["SPECKTRACK_NOTHREADS"] = "1"  # run the retrieval synchronously, then grab
    import napari

    from napari_specktrack._demo import make_demo_viewer
    from napari_specktrack.widgets._common import session

    viewer = napari.Viewer(title="napari-specktrack demo", show=True)
    make_demo_viewer(viewer, "spheres")
    viewer.window._qt_window.resize(*args.size)
    retrieval = session(viewer).widgets.get("Retrieval")
    try:
        import napari_specktrack.retrieval.methods  # noqa: F401

        have_retrieval = True
    except ImportError:
        have_retrieval = False
        print("note: napari_specktrack.retrieval.methods is missing; screenshot shows inputs only",
              file=sys.stderr)
    if have_retrieval and retrieval is not None:
        from napari_specktrack.widgets.retrieval import METHODS

        retrieval.method.value = METHODS[1]  # double exposure, measured in-line image
        retrieval.run()
    for layer in viewer.layers:
        layer.visible = layer.name in ("phase", "truth phase") if have_retrieval else layer.name == "sample"
    if have_retrieval:
        viewer.grid.enabled = True
        viewer.grid.shape = (1, 2)
        for name in ("phase", "truth phase"):
            viewer.layers[name].colormap = "magma"
        lo, hi = viewer.layers["truth phase"].contrast_limits
        viewer.layers["phase"].contrast_limits = (lo, hi)
        viewer.layers.selection.active = viewer.layers["phase"]
    from napari_specktrack.widgets._common import set_um_units

    for layer in viewer.layers:
        set_um_units(layer)  # the sample data's scale is in µm
    viewer.scale_bar.visible = True
    viewer.reset_view()
    napari.qt.get_qapp().processEvents()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.out), canvas_only=False, flash=False)
    print(f"wrote {args.out}")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
