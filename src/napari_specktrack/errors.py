"""Errors a user can cause.

Every message names the offending input and says how to fix it; widgets show these as
napari notifications and the CLI prints them without a traceback.
"""


class SpecktrackError(Exception):
    """Base class of all errors caused by user input (bad files, shapes, parameters)."""


class GeometryError(SpecktrackError, ValueError):
    """An invalid or missing imaging geometry."""


class InputError(SpecktrackError, ValueError):
    """Bad image data: wrong shape, dtype, NaN/inf, non-positive counts, no speckle, ..."""


class MaterialError(SpecktrackError, ValueError):
    """An unknown material name or an invalid chemical formula / density."""


class FileFormatError(SpecktrackError, OSError):
    """A file that is missing, corrupt, or not in the expected format."""


class OutputError(SpecktrackError, OSError):
    """An output that would overwrite a result or an input, or that cannot be written."""


class DeviceError(SpecktrackError, ValueError):
    """A compute device that is unknown or not present on this machine."""


class CancelledError(SpecktrackError):
    """Raised inside long computations when the user pressed cancel."""
