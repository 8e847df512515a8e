"""Array helpers for the hot paths of matching.

Decision: NumPy 2.4's ``np.unique`` without ``return_*`` arguments takes a hash-table path that is
about 40 times slower than a sort on millions of distinct integers (measured: 1.8 s against 0.045 s
for 2 M int64), and a query's raw hits against a large catalogue are exactly that. These helpers
sort instead.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def _firsts(s: npt.NDArray[np.generic]) -> npt.NDArray[np.bool_]:
    """For a sorted, non-empty array: where each run of equal values starts."""
    first = np.empty(len(s), bool)
    first[0] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    return first


def distinct(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The distinct values of an integer array, sorted."""
    s = np.sort(values)
    return s[_firsts(s)] if len(s) else s


def count_distinct(values: npt.NDArray[np.int64] | npt.NDArray[np.float64]) -> int:
    """How many distinct values an array holds."""
    return int(np.count_nonzero(_firsts(np.sort(values)))) if len(values) else 0


def group(values: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """``(distinct sorted values, inverse)`` such that ``distinct[inverse] == values``."""
    if len(values) == 0:
        return np.sort(values), np.zeros(0, np.intp)
    order = np.argsort(values, kind="stable")
    s = values[order]
    first = _firsts(s)
    inverse = np.empty(len(s), np.intp)
    inverse[order] = np.cumsum(first) - 1
    return s[first], inverse
