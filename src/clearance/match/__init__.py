"""Turning raw index hits into time-aligned segments with calibrated scores."""

from clearance.match.align import AlignParams, Segment, align_hits, align_lines

__all__ = ["AlignParams", "Segment", "align_hits", "align_lines"]
