"""The one-command demo: a catalogue from synthesized songs, an edited clip, a scan.

Everything is made on the spot (no downloads, no user files), so a newcomer sees the whole job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clearance.catalog.store import Catalog
from clearance.config import Settings
from clearance.media import synth
from clearance.scan.pipeline import ScanReport, scan

RATE = 44100


@dataclass(frozen=True)
class DemoResult:
    catalog_dir: Path
    clip: Path
    report: ScanReport
    expected: list[str]


def run_demo(workdir: Path) -> DemoResult:
    """Register three songs (two labels) in a catalogue under ``workdir``, build a clip with edited
    excerpts of two, and scan it.

    The clip: 4 s of speech, 10 s of "Song A" sped up by 4 %, 4 s of unregistered music, 8 s of
    "Song C" with a voice-over about 14 dB below the music, all written as an MP4 with a moving picture.
    """
    from scipy import signal

    media_dir = workdir / "media"
    media_dir.mkdir(parents=True, exist_ok=True)
    songs = {name: synth.music(seed, 45.0) for name, seed in (("Song A", 11), ("Song B", 12), ("Song C", 13))}
    paths = {
        name: synth.write_audio(media_dir / f"{name.replace(' ', '_').lower()}.mp3", x)
        for name, x in songs.items()
    }
    catalog = Catalog.open(workdir / "catalog", settings=Settings.load())
    catalog.register(paths["Song A"], owner="Label One", title="Song A", policy="block")
    catalog.register(paths["Song B"], owner="Label One", title="Song B", policy="review")
    catalog.register(paths["Song C"], owner="Label Two", title="Song C", policy="review")

    speech = synth.speech_like(5, 20.0)
    a = songs["Song A"][12 * RATE : 22 * RATE]
    a_fast = signal.resample_poly(a, 25, 26).astype(np.float32)  # 4 % faster, pitch follows
    other = synth.music(99, 4.0)
    c = songs["Song C"][30 * RATE : 38 * RATE] + 0.2 * speech[4 * RATE : 12 * RATE]
    clip_audio = np.concatenate([speech[: 4 * RATE], a_fast, other, c]).astype(np.float32)
    clip = synth.write_video(
        workdir / "generated_clip.mp4", duration_s=len(clip_audio) / RATE, audio=clip_audio
    )
    report = scan(catalog, clip)
    catalog.close()
    return DemoResult(workdir / "catalog", clip, report, ["Song A", "Song C"])
