"""Generate the in-line image with the shipped generator and compare it with the true one.

    python examples/generate_pretrained.py [--size 256] [--phantom foam]
"""

from __future__ import annotations

import argparse

from skimage.metrics import structural_similarity

from napari_specktrack.pipeline import Frames, GeneratorSpec, generate
from napari_specktrack.simulate import simulate


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="image side, pixels")
    parser.add_argument("--phantom", choices=("spheres", "foam"), default="spheres")
    parser.add_argument("--seed", type=int, default=900, help="a seed the weights never saw")
    args = parser.parse_args(argv)

    acq = simulate(args.phantom, args.size, seed=args.seed)
    result = generate(Frames(acq.sample, acq.reference), GeneratorSpec("pretrained", device="auto"))
    truth = acq.truth_inline  # the in-line image before photon noise
    ssim = structural_similarity(result.inline, truth, data_range=float(truth.max() - truth.min()))
    print(f"{result.meta['preset']} generator on {result.device}: SSIM {ssim:.3f} against the true "
          f"in-line image ({args.phantom}, {args.size}²)")
    return float(ssim)


if __name__ == "__main__":
    main()
