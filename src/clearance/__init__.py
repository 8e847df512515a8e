"""clearance: open-source rights clearance for AI-generated video.

>>> from clearance import Catalog, scan                          # doctest: +SKIP
>>> catalog = Catalog.open("/tmp/cat")                           # doctest: +SKIP
>>> catalog.register(["song.mp3"], owner="Label A")             # doctest: +SKIP
>>> scan(catalog, "clip.mp4").decision                           # doctest: +SKIP
'block'
"""

from clearance.catalog import Catalog, Identity, Registration, Work
from clearance.config import Limits, Settings
from clearance.errors import (
    CatalogError,
    ClearanceError,
    ConfigError,
    ConflictError,
    CorruptMediaError,
    InputError,
    LimitExceededError,
    NotFoundError,
    PolicyError,
    UnsupportedMediaError,
)
from clearance.media import DecodedMedia, decode
from clearance.scan import Finding, ScanReport, scan

__version__ = "0.1.0"

__all__ = [
    "Catalog",
    "CatalogError",
    "ClearanceError",
    "ConfigError",
    "ConflictError",
    "CorruptMediaError",
    "DecodedMedia",
    "Finding",
    "Identity",
    "InputError",
    "LimitExceededError",
    "Limits",
    "NotFoundError",
    "PolicyError",
    "Registration",
    "ScanReport",
    "Settings",
    "UnsupportedMediaError",
    "Work",
    "__version__",
    "decode",
    "scan",
]
