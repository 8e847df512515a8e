"""The benchmark's reference and hold-out sets: ``shared/media`` plus Debian's game soundtracks.

``benchmarks/setup.sh`` installs the Debian packages (Ogg/Opus tracks under free licences). Nexuiz
ships its music inside a zip archive (``music.pk3``); its tracks are extracted once into a cache.
Every fifth Debian track (by sorted path) is held out: never registered, it serves as unrelated
music in the heads, tails and no-match queries. Held-out tracks that are built from a registered
track's recordings are left out of the corpus altogether (``SHARES_RECORDINGS``).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from platformdirs import user_cache_dir

HOLDOUT = {"rain_ambience.mp3", "humpback.ogg", "trumpet.ogg", "robin.ogg", "singularity_awakening.ogg"}
SKIP = {"brahms_lowq.ogg", "nutcracker_lowq.ogg"}
DEBIAN_PACKAGES = ("wesnoth-1.16-music", "nexuiz-music", "warzone2100-music", "asc-music")
DEBIAN_DIRS = (
    Path("/usr/share/games/wesnoth/1.16/data/core/music"),
    Path("/usr/share/games/warzone2100/music"),
    Path("/usr/share/games/asc/music"),
)
NEXUIZ_PK3 = Path("/usr/share/games/nexuiz/data/music.pk3")
HOLDOUT_EVERY = 5
# Warzone 2100's tracks reuse each other's loops; these held-out ones are made from registered
# ones. By waveform correlation, track9's spans correlate with track8 at 0.29-0.79 where clearance
# aligned them, and at 0.14-0.43 (95th percentile) even at random offsets of the two, against 0.09
# (90th percentile) for random pairs of corpus tracks; track4's correlate with track5, track8,
# track14 and track27 at 0.76-0.94. track12 ends on track11's closing sound, re-rendered (the
# waveforms do not correlate): over the 5.5 s that clearance aligned (52-65 of 95-100 peaks verified),
# their log spectrograms (fingerprint band, each frame's mean removed) correlate at 0.92, against at
# most 0.65 for 300 random offset pairs of the two tracks. A finding there is right, and as filler
# they would plant registered audio in the heads and tails of the queries.
SHARES_RECORDINGS = {"track4.opus", "track9.opus", "track12.opus"}


@dataclass
class Corpus:
    """Paths of the benchmark's audio, by role."""

    music: list[Path] = field(default_factory=list)  # registered music
    speech: list[Path] = field(default_factory=list)  # registered spoken-word works
    holdout_music: list[Path] = field(default_factory=list)  # unregistered music
    holdout_speech: list[Path] = field(default_factory=list)  # unregistered speech

    @property
    def references(self) -> list[Path]:
        return self.music + self.speech


def _nexuiz(cache: Path) -> list[Path]:
    if not NEXUIZ_PK3.is_file():
        return []
    out = cache / "nexuiz"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with zipfile.ZipFile(NEXUIZ_PK3) as z:
        for info in z.infolist():
            if not info.filename.endswith(".ogg") or info.file_size < 1_000_000:
                continue  # skip directories and short jingles
            target = out / Path(info.filename).name
            if not target.exists() or target.stat().st_size != info.file_size:
                tmp = target.with_suffix(".part")
                tmp.write_bytes(z.read(info))
                tmp.replace(target)
            paths.append(target)
    return paths


def debian_music(cache: Path | None = None) -> list[Path]:
    """Tracks of the installed Debian soundtrack packages, sorted; empty when none is installed."""
    cache = cache or Path(user_cache_dir("clearance-bench"))
    found = [p for d in DEBIAN_DIRS if d.is_dir() for p in d.rglob("*") if p.suffix in {".ogg", ".opus"}]
    # Warzone 2100 ships some tracks twice (album and in-game copies): one of each size is kept.
    # It also ships remasters beside originals (menu.opus, menu_enhanced.opus): the same music,
    # which would count as a wrong work when a query from one finds the other. The original is kept.
    found += _nexuiz(cache)
    stems = {p.stem for p in found}
    seen: set[int] = set()
    unique = []
    for p in sorted(found):
        size = p.stat().st_size
        if size in seen or (p.stem.endswith("_enhanced") and p.stem.removesuffix("_enhanced") in stems):
            continue
        seen.add(size)
        unique.append(p)
    return unique


def load(media: Path, debian: bool = True) -> Corpus:
    """The corpus: ``media`` (shared/media) and, when ``debian``, the installed soundtracks."""
    corpus = Corpus()
    music = sorted(p for p in (media / "audio").iterdir() if p.name not in SKIP)
    corpus.music = [p for p in music if p.name not in HOLDOUT]
    corpus.holdout_music = [p for p in music if p.name in HOLDOUT]
    corpus.speech = sorted((media / "speech").glob("librispeech_[0-9]*/*.flac")) + sorted(
        (media / "speech" / "jfk").glob("*")
    )
    corpus.holdout_speech = sorted((media / "speech" / "ami_meetings").glob("*.wav"))
    if debian:
        tracks = debian_music()
        corpus.holdout_music += [p for p in tracks[::HOLDOUT_EVERY] if p.name not in SHARES_RECORDINGS]
        corpus.music += [p for i, p in enumerate(tracks) if i % HOLDOUT_EVERY]
    return corpus
