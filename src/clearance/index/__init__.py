"""Indexes: immutable on-disk generations searched through memory maps."""

from clearance.index.postings import Generation, Hits, merge_generations, write_generation

__all__ = ["Generation", "Hits", "merge_generations", "write_generation"]
