"""The plug-in contract every signal type implements, and the registry that finds them.

A signal type turns decoded media into index keys for references and for queries, and says how its
hits are aligned. The scan pipeline knows signal types only through this protocol. Third-party
types register through the ``clearance.signal_types`` entry-point group.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from clearance.match.align import AlignParams
from clearance.media.decode import DecodedMedia


@dataclass(frozen=True)
class Fingerprint:
    """Index keys with the frame each belongs to, and the length of the input in frames."""

    keys: npt.NDArray[np.uint32]
    frames: npt.NDArray[np.uint32]
    n_frames: int


@runtime_checkable
class SignalType(Protocol):
    """A kind of fingerprint: stable storage ``name``, the finding ``kind`` it produces."""

    name: str
    kind: str
    align: AlignParams

    def applies_to(self, media: DecodedMedia) -> bool:
        """Whether this input carries the signal (e.g. has an audio track with sound in it)."""
        ...

    def reference(self, media: DecodedMedia) -> Fingerprint:
        """What to store for a registered work."""
        ...

    def query(self, media: DecodedMedia) -> Fingerprint:
        """What to look up for a scanned input."""
        ...


_REGISTRY: dict[str, SignalType] = {}


def signal_types() -> dict[str, SignalType]:
    """Every available signal type by storage name: built-in ones and entry-point plug-ins."""
    if not _REGISTRY:
        for ep in entry_points(group="clearance.signal_types"):
            cls = ep.load()
            instance = cls()
            _REGISTRY[instance.name] = instance
        if "audio_landmarks" not in _REGISTRY:  # running from a source tree without metadata
            from clearance.fingerprint.audio import AudioLandmarks

            _REGISTRY["audio_landmarks"] = AudioLandmarks()
    return dict(_REGISTRY)
