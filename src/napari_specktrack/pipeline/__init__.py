"""The one pipeline every front end calls: parameters, calibrated frames, run, outputs.

* :class:`RetrievalParams`, :class:`GeneratorSpec` — the typed parameters (defaults live here);
* :class:`Frames` — sample, reference, in-line, dark and flat images, calibrated and checked;
* :func:`retrieve`, :func:`generate` — the runs (validate once, one frame loop, progress,
  cancel, one provenance record); :func:`prepare` / :class:`Plan` for per-frame workers;
* :data:`OUTPUT_FIELDS` — names, units, files, layers and colormaps of the outputs;
* :mod:`.files` — reading the inputs of a command and writing a result folder.

No Qt and no napari here: the CLI, the widgets and ``batch`` are thin shells around it.
"""

from .fields import FIELD_BY_KEY, INLINE_FIELD, OUTPUT_FIELDS, OutputField
from .frames import Frames
from .params import INTEGRATIONS, METHODS, GeneratorSpec, RetrievalParams
from .run import UNITS_PER_FRAME, GenerateResult, Plan, RunResult, generate, prepare, retrieve

__all__ = [
    "FIELD_BY_KEY",
    "INLINE_FIELD",
    "INTEGRATIONS",
    "METHODS",
    "OUTPUT_FIELDS",
    "UNITS_PER_FRAME",
    "Frames",
    "GenerateResult",
    "GeneratorSpec",
    "OutputField",
    "Plan",
    "RetrievalParams",
    "RunResult",
    "generate",
    "prepare",
    "retrieve",
]
