"""Open napari with the simulated spheres phantom loaded and the plugin's widgets docked."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--phantom", choices=("spheres", "foam"), default="spheres", help="sample data to open"
    )


def run(args: argparse.Namespace) -> int:
    import napari

    viewer = napari.Viewer(title="napari-specktrack demo")
    viewer.open_sample("napari-specktrack", args.phantom)
    napari.run()
    return 0
