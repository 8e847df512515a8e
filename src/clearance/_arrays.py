"""Array helpers for the hot paths of matching.

Decision: NumPy 2.4's ``np.unique`` without ``return_*`` arguments takes a hash-table path that is
about 40 times slower than a sort on millions of distinct integers (measured: 1.8 s against 0.045 s
for 2 M int64), and a query's raw hits against a large catalogue are exactly that. These helpers
sort instead.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def distinct(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The distinct values of an integer array, sorted."""
    s = np.sort(values)
    if len(s) == 0:
        return s
    keep = np.empty(len(s), bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def count_distinct(values: npt.NDArray[np.int64] | npt.NDArray[np.float64]) -> int:
    """How many distinct values an array holds."""
    if len(values) == 0:
        return 0
    s = np.sort(values)
    return int(np.count_nonzero(s[1:] != s[:-1])) + 1


def group(values: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """``(distinct sorted values, inverse)`` such that ``distinct[inverse] == values``."""
    order = np.argsort(values, kind="stable")
    s = values[order]
    if len(s) == 0:
        return s, np.zeros(0, np.intp)
    new = np.empty(len(s), bool)
    new[0] = True
    np.not_equal(s[1:], s[:-1], out=new[1:])
    inverse = np.empty(len(s), np.intp)
    inverse[order] = np.cumsum(new) - 1
    return s[new], inverse
