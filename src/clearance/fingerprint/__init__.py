"""Fingerprints: one module per signal type behind the :class:`SignalType` protocol."""

from clearance.fingerprint.base import Fingerprint, SignalType, signal_types

__all__ = ["Fingerprint", "SignalType", "signal_types"]
