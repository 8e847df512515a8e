"""What the benchmarks share: their options and corpus check, running queries over worker processes
with progress, the Wilson interval, and printing a benchmark's section and writing it into
BENCHMARKS.md."""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable, Iterable
from multiprocessing import get_context
from pathlib import Path
from typing import TypeVar

from rich.progress import Progress

S = TypeVar("S")
R = TypeVar("R")


def parser(doc: str | None, queries: int, queries_help: str, nomatch: int) -> argparse.ArgumentParser:
    """The options every accuracy benchmark takes."""
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--media", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "media")
    p.add_argument("--queries", type=int, default=queries, help=queries_help)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--nomatch", type=int, default=nomatch, help="no-match queries")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    p.add_argument("--records", type=Path, default=None, help="write every query's outcome (JSON)")
    p.add_argument("--write", type=Path, default=None, help="update this BENCHMARKS.md")
    return p


def scale_parser(doc: str | None, queries: int, queries_help: str) -> argparse.ArgumentParser:
    """The options every scale benchmark takes."""
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--media", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "media")
    p.add_argument("--hours", type=float, nargs="+", default=[10.0, 100.0, 1000.0])
    p.add_argument("--queries", type=int, default=queries, help=queries_help)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", type=Path, default=None, help="where the catalogue is built (large)")
    p.add_argument("--write", type=Path, default=None, help="update this BENCHMARKS.md")
    return p


def require_corpus(media: Path, folder: str) -> None:
    """Stop with one line when ``media`` lacks the corpus folder a benchmark reads."""
    if not (media / folder).is_dir():
        raise SystemExit(f"no corpus at {media}: pass --media")


def pool_map(fn: Callable[[S], R], specs: list[S], jobs: int, label: str, chunksize: int = 4) -> list[R]:
    """``fn`` over ``specs`` in ``jobs`` forked workers (in this process for one), results in the
    order they finish, with a progress bar."""
    out: list[R] = []
    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=len(specs))
        if jobs <= 1:
            results: Iterable[R] = map(fn, specs)
            for r in results:
                out.append(r)
                progress.advance(task)
        else:
            with get_context("fork").Pool(jobs) as pool:
                for r in pool.imap_unordered(fn, specs, chunksize=chunksize):
                    out.append(r)
                    progress.advance(task)
    return out


def wilson_low(k: int, n: int, z: float = 1.96) -> float:
    """Lower end of the 95 % Wilson interval of a proportion, in percent."""
    if n == 0:
        return 0.0
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return 100 * (centre - spread) / (1 + z * z / n)


HEADER = "# Benchmarks\n\nFigures measured by the scripts in `benchmarks/`; each section says its command, date and machine.\n"


def write_section(path: Path, title: str, body: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = (
        pattern.sub(lambda _m: section + "\n", text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + section
    )
    path.write_text(text, encoding="utf-8")


def publish(text: str, write: Path | None, title: str) -> None:
    """Print a benchmark's section and, when asked, write it into that BENCHMARKS.md."""
    print(text)
    if write:
        write_section(write, title, text)
