"""The plug-in contract every signal type implements, and the registry that finds them.

A signal type turns decoded media into what its index stores for references and looks up for
queries, proposes aligned candidate segments from its index, and verifies them. The scan pipeline
knows signal types only through this protocol. Third-party types register through the
``clearance.signal_types`` entry-point group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from clearance.errors import ConfigError
from clearance.index.postings import Generation
from clearance.match.align import AlignParams, Segment
from clearance.media.decode import DecodedMedia


@dataclass(frozen=True)
class Fingerprint:
    """Index keys with the frame each belongs to, the length of the input in frames, and points.

    ``points`` are what the signal type's ``verify`` compares once the index has proposed a segment
    (audio: spectral peaks packed as ``frame << 10 | pitch``); they are stored beside the postings.
    """

    keys: npt.NDArray[np.uint32]
    frames: npt.NDArray[np.uint32]
    n_frames: int
    points: npt.NDArray[np.uint32] = field(default_factory=lambda: np.zeros(0, np.uint32))


@runtime_checkable
class SignalType(Protocol):
    """A kind of fingerprint: stable storage ``name``, the finding ``kind`` it produces.

    A signal type may also have ``prepare(generation)``: the catalogue calls it on each merged
    generation before the generation becomes active, to build search structures that take long
    (the visual signals' inverted file)."""

    name: str
    kind: str
    align: AlignParams
    key_space: int  # every index key is below this

    def applies_to(self, media: DecodedMedia) -> bool:
        """Whether this input carries the signal (e.g. has an audio track with sound in it)."""
        ...

    def reference(self, media: DecodedMedia) -> Fingerprint:
        """What to store for a registered work."""
        ...

    def query(self, media: DecodedMedia) -> Fingerprint:
        """What to look up for a scanned input."""
        ...

    def propose(self, generations: list[Generation], query: Fingerprint, max_hits: int) -> list[Segment]:
        """Candidate segments, best first: the query searched in this signal's index generations
        (spending at most about ``max_hits`` index hits) and its hits aligned."""
        ...

    def verify(
        self, query: Fingerprint, ref_points: npt.NDArray[np.uint32], segment: Segment, trials: int
    ) -> Segment | None:
        """Check a segment the index proposed against the work's stored points.

        Returns the segment with its final, calibrated ``score`` (``trials`` candidates are checked
        for this query: the false-alarm probability is corrected for them), or ``None``.
        """
        ...


_REGISTRY: dict[str, SignalType] = {}


def active_signal_types(off: list[str]) -> dict[str, SignalType]:
    """The available signal types less those a deployment turned ``off`` (``Settings.signals_off``)."""
    available = signal_types()
    unknown = sorted(set(off) - set(available))
    if unknown:
        raise ConfigError(
            f"invalid setting signals_off: unknown signal types {unknown} (known: {sorted(available)})"
        )
    return {name: st for name, st in available.items() if name not in off}


def signal_types() -> dict[str, SignalType]:
    """Every available signal type by storage name: built-in ones and entry-point plug-ins."""
    if not _REGISTRY:
        for ep in entry_points(group="clearance.signal_types"):
            cls = ep.load()
            instance = cls()
            _REGISTRY[instance.name] = instance
        # Running from a source tree without installed metadata: the built-in types all the same.
        from clearance.fingerprint.audio import AudioLandmarks
        from clearance.fingerprint.local import VisualORB
        from clearance.fingerprint.visual import VisualPDQ

        for builtin in (AudioLandmarks(), VisualPDQ(), VisualORB()):
            _REGISTRY.setdefault(builtin.name, builtin)
    return dict(_REGISTRY)
