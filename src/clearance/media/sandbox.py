"""Decoding untrusted files in a child process with its own memory and CPU limits.

FFmpeg's demuxers and decoders are large C code bases fed with hostile bytes. In the child, a crash
(a signal), a memory blow-up (``RLIMIT_AS``) or a runaway loop (``RLIMIT_CPU``) ends that process
only; the caller gets one clear ``ClearanceError`` and its own state is untouched.

Decision: a ``forkserver`` that has already imported the decoder forks each child, so a decode costs
a fork (milliseconds), not a fresh interpreter, and no threads of the caller (a web server's, say)
are copied into it. The PCM comes back through a pipe as raw bytes. Like any forkserver, it imports
the caller's main module once, so a calling script must keep its work under
``if __name__ == "__main__":``; that is why isolation is a setting (``limits.isolate_decode``), off
by default for library use, and meant for services and batch jobs.
"""

from __future__ import annotations

import functools
import multiprocessing
import resource
import signal
import sys
from collections.abc import Callable
from dataclasses import fields
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from clearance.config import Limits
from clearance.errors import ClearanceError, CorruptMediaError, LimitExceededError
from clearance.media.decode import AUDIO_RATE, DecodedMedia, decode, display_name

_CTX: Any = None
# The arrays of a DecodedMedia, sent as raw bytes after the rest of its fields.
_ARRAYS = {
    "audio": np.float32,
    "frames": np.uint8,
    "frame_times": np.float32,
    "detail": np.uint8,
    "detail_times": np.float32,
}


def _context() -> Any:
    global _CTX
    if _CTX is None:
        _CTX = multiprocessing.get_context("forkserver")
        _CTX.set_forkserver_preload(["clearance.media.decode", "numpy", "av"])
    return _CTX


def _vm_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * resource.getpagesize()


def _child(
    path: str, limits: Limits, audio_rate: int, conn: Connection, decoder: Callable[..., DecodedMedia]
) -> None:
    try:
        # Address space is counted from what the process already maps (interpreter, NumPy, FFmpeg).
        cap = _vm_bytes() + limits.decode_memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        cpu = int(limits.decode_timeout_s) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        media = decoder(path, limits=limits, audio_rate=audio_rate)
    except ClearanceError as exc:
        conn.send(("error", type(exc).__name__, str(exc)))
        return
    except MemoryError:
        conn.send(("memory", "", ""))
        return
    meta = {f.name: getattr(media, f.name) for f in fields(media) if f.name not in _ARRAYS}
    meta["path"] = str(meta["path"])
    conn.send(("ok", meta, [getattr(media, a).shape for a in _ARRAYS]))
    for a in _ARRAYS:
        conn.send_bytes(np.ascontiguousarray(getattr(media, a)).tobytes())


def decode_isolated(
    path: Path | str,
    *,
    limits: Limits | None = None,
    audio_rate: int = AUDIO_RATE,
    decoder: Callable[..., DecodedMedia] = decode,
) -> DecodedMedia:
    """:func:`~clearance.media.decode` run in a sandboxed child process; the same result or error."""
    limits = limits or Limits()
    path = Path(path)
    name = display_name(path)
    ctx = _context()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(str(path), limits, audio_rate, child, decoder), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(limits.decode_timeout_s + 30):
            raise LimitExceededError(f"{name}: decoding took longer than {limits.decode_timeout_s:.0f} s")
        message = parent.recv()
        if message[0] == "ok":
            _, meta, shapes = message
            arrays: dict[str, Any] = {}
            for (a, dtype), shape in zip(_ARRAYS.items(), shapes, strict=True):
                data = np.frombuffer(parent.recv_bytes(), dtype)
                if data.size != int(np.prod(shape)):
                    raise CorruptMediaError(f"{name}: the decoder stopped mid-way")
                arrays[a] = data.reshape(shape)
            return DecodedMedia(**arrays, **{**meta, "path": path})
        if message[0] == "memory":
            raise LimitExceededError(
                f"{name}: decoding needs more than the {limits.decode_memory_bytes} byte memory limit"
            )
        raise _rebuild(message[1], message[2])
    except EOFError:
        proc.join(5)
        raise _died(name, proc.exitcode, limits) from None
    finally:
        parent.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)


def _rebuild(kind: str, message: str) -> ClearanceError:
    import clearance.errors as errors

    cls = getattr(errors, kind, None)
    if isinstance(cls, type) and issubclass(cls, ClearanceError):
        return cls(message)
    return CorruptMediaError(message)


def _died(name: str, exitcode: int | None, limits: Limits) -> ClearanceError:
    if exitcode is not None and exitcode < 0:
        sig = signal.Signals(-exitcode)
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            return LimitExceededError(
                f"{name}: decoding used more than {limits.decode_timeout_s:.0f} s of CPU"
            )
        return CorruptMediaError(f"{name}: the decoder crashed on this file ({sig.name})")
    return CorruptMediaError(f"{name}: the decoder exited without a result (code {exitcode})")


def decode_input(path: Path | str, *, limits: Limits, keyframes: bool = False) -> DecodedMedia:
    """Decode a user's file: in a sandboxed child (Linux) unless ``limits.isolate_decode`` is off;
    ``keyframes`` as in :func:`~clearance.media.decode`."""
    decoder = functools.partial(decode, keyframes=keyframes)
    # A daemonic process (a multiprocessing.Pool worker) may not start children: it decodes in-process.
    if limits.isolate_decode and sys.platform == "linux" and not multiprocessing.current_process().daemon:
        return decode_isolated(path, limits=limits, decoder=decoder)
    return decoder(path, limits=limits)
