"""FFmpeg audio filter graphs over PyAV: one place that builds a chain and drains its output."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from fractions import Fraction
from typing import Any

import av
import av.error
import numpy as np
import numpy.typing as npt


def audio_graph(graph: av.filter.Graph, head: Any, filters: Sequence[tuple[str, str]]) -> av.filter.Graph:
    """``graph`` configured as ``head`` (a source node already added to it), ``filters``, a sink."""
    nodes = [head, *(graph.add(name, args) for name, args in filters), graph.add("abuffersink")]
    for src, dst in itertools.pairwise(nodes):
        src.link_to(dst)
    graph.configure()
    return graph


def drain(graph: av.filter.Graph) -> Iterator[npt.NDArray[np.float32]]:
    """Every frame the graph has ready, as flat float32 arrays."""
    while True:
        try:
            frame = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return
        yield np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1)


def filter_audio(
    samples: npt.NDArray[np.float32], rate: int, filters: Sequence[tuple[str, str]]
) -> npt.NDArray[np.float32]:
    """Run mono float ``samples`` through an FFmpeg filter chain (e.g. ``[("atempo", "1.05")]``)."""
    chain = [*filters, ("aformat", f"sample_fmts=flt:channel_layouts=mono:sample_rates={rate}")]
    graph = av.filter.Graph()
    head = graph.add_abuffer(format="flt", sample_rate=rate, layout="mono", time_base=Fraction(1, rate))
    audio_graph(graph, head, chain)
    out: list[npt.NDArray[np.float32]] = []
    pts = 0
    for start in range(0, len(samples), 8192):
        block = np.ascontiguousarray(samples[start : start + 8192], dtype=np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, pts, Fraction(1, rate)
        pts += frame.samples
        graph.push(frame)
        out.extend(drain(graph))
    graph.push(None)
    out.extend(drain(graph))
    return np.concatenate(out) if out else np.zeros(0, np.float32)
