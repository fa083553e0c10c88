"""napari-specktrack: single-shot X-ray speckle tracking with deep-learning phase correction.

The compute core (``geometry``, ``physics``, ``simulate``, ``retrieval``, ``learn``, ``tomo``,
``io``) is plain numpy/torch and never imports Qt or napari; ``widgets`` and the npe2
contributions are thin shells around it. torch is imported lazily by the modules that need it,
so importing this package (and starting napari) stays fast.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("napari-specktrack")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from .errors import SpecktrackError
from .geometry import Geometry

__all__ = ["Geometry", "SpecktrackError", "__version__"]
