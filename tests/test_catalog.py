from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from clearance import Catalog, ConflictError, InputError, scan
from clearance.catalog import FingerprintedWork
from clearance.errors import CatalogError
from clearance.fingerprint.audio import AudioLandmarks
from clearance.media import synth
from clearance.media.decode import decode


def test_register_and_list(catalog: Catalog, song_files: dict[str, Path]) -> None:
    res = catalog.register([song_files["song0"], song_files["song1"]], owner="Label A", policy="review")
    assert [r.status for r in res] == ["registered", "registered"]
    works = catalog.works()
    assert {w.id for w in works} == {r.work_id for r in res}
    assert all(w.owner == "Label A" and w.policy == "review" and w.kind == "audio" for w in works)
    assert all(29 < w.duration_s < 31 for w in works)
    assert catalog.works(owner="nobody") == []
    assert catalog.check() == []


def test_same_content_twice_is_one_work(
    catalog: Catalog, song_files: dict[str, Path], tmp_path: Path
) -> None:
    first = catalog.register(song_files["song0"], owner="Label A")[0]
    copy = tmp_path / "renamed.mp3"
    copy.write_bytes(song_files["song0"].read_bytes())
    again = catalog.register([copy, song_files["song0"]], owner="Label A")
    assert [r.status for r in again] == ["duplicate", "duplicate"]
    assert {r.work_id for r in again} == {first.work_id}
    assert len(catalog.works()) == 1
    with pytest.raises(ConflictError):
        catalog.register(copy, owner="Label B")


def test_bad_file_in_strict_registration_stores_nothing(
    catalog: Catalog, song_files: dict[str, Path], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"this is not audio at all" * 100)
    with pytest.raises(InputError):
        catalog.register([song_files["song0"], bad], owner="Label A")
    assert catalog.works() == []
    assert list(catalog.index_dir.glob("*/gen-*")) == []
    assert list(catalog.index_dir.glob("*/.tmp-*")) == []


def test_non_strict_registration_keeps_good_files(
    catalog: Catalog, song_files: dict[str, Path], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    res = catalog.register([song_files["song0"], bad], owner="Label A", strict=False)
    assert [r.status for r in res] == ["registered", "failed"]
    assert res[1].code in {"corrupt_media", "unsupported_media"}
    assert len(catalog.works()) == 1


def test_index_of_another_format_is_refused_with_one_error(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "catalog") as cat:
        cat.register(synth.write_audio(tmp_path / "s.flac", synth.music(210, 8.0)), owner="o")
    meta = next((tmp_path / "catalog").rglob("works.json"))
    meta.write_text(meta.read_text().replace("clearance.postings/", "clearance.postings/old-"))
    with Catalog.open(tmp_path / "catalog") as cat, pytest.raises(CatalogError, match="re-register"):
        cat.generations("audio_landmarks")


def test_compaction_merges_generations(catalog: Catalog, tmp_path: Path) -> None:
    for i in range(3):
        catalog.register(synth.write_audio(tmp_path / f"s{i}.flac", synth.music(200 + i, 8.0)), owner="o")
    assert len(catalog.generations("audio_landmarks")) == 3
    before = sum(len(g) for g in catalog.generations("audio_landmarks"))
    assert catalog.compact("audio_landmarks")
    gens = catalog.generations("audio_landmarks")
    assert len(gens) == 1 and len(gens[0]) == before
    assert catalog.check() == []


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc (Linux)")
def test_merged_generations_are_unmapped(catalog: Catalog, tmp_path: Path) -> None:
    # A long-lived writer must not keep retired generations mapped: their disk space would stay
    # allocated after garbage collection removed the files.
    for i in range(3):
        catalog.register(synth.write_audio(tmp_path / f"s{i}.flac", synth.music(210 + i, 8.0)), owner="o")
    retired = {g.path.name for g in catalog.generations("audio_landmarks")}
    assert catalog.compact("audio_landmarks")
    maps = Path("/proc/self/maps").read_text()
    assert not [name for name in retired if name in maps]
    assert len(catalog.generations("audio_landmarks")) == 1


def test_retired_generations_are_removed_after_a_grace_period(tmp_path: Path) -> None:
    import sqlite3

    catalog = Catalog.open(tmp_path / "catalog")
    for i in range(3):
        catalog.register(synth.write_audio(tmp_path / f"s{i}.flac", synth.music(220 + i, 8.0)), owner="o")
    held = catalog.generations("audio_landmarks")  # a reader in the middle of a scan
    retired = [g.path for g in held]
    assert catalog.compact("audio_landmarks")
    assert all(p.is_dir() for p in retired)  # freshly retired: a reader may be mapping them now
    with sqlite3.connect(tmp_path / "catalog" / "catalog.db") as db:
        db.execute("UPDATE generations SET retired_at = retired_at - 3000 WHERE state = 'retired'")
    Catalog.open(tmp_path / "catalog").close()  # opening collects garbage
    assert not any(p.exists() for p in retired)
    # What the reader had mapped stays readable, and a new listing finds the merged generation.
    assert all(len(g.points(0)) > 0 for g in held)
    assert len(catalog.generations("audio_landmarks")) == 1
    assert catalog.check() == []
    catalog.close()


def test_compaction_keeps_every_work_findable(catalog: Catalog, tmp_path: Path) -> None:
    paths = [synth.write_audio(tmp_path / f"m{i}.flac", synth.music(300 + i, 12.0)) for i in range(10)]
    ids = [catalog.register(p, owner="o")[0].work_id for p in paths]
    # Size-tiered: ten registrations never leave more than the allowed number of generations, and
    # the merges keep every work's postings and points at their own frames.
    assert len(catalog.generations("audio_landmarks")) <= 8
    for p, work_id in zip(paths[::3], ids[::3], strict=True):
        report = scan(catalog, p, record=False)
        assert [f.work_id for f in report.findings] == [work_id]
        assert abs((report.findings[0].ref_start or 0) - report.findings[0].query_start) < 0.1
    assert catalog.check() == []


def test_register_fingerprinted_stores_and_deduplicates(catalog: Catalog, tmp_path: Path) -> None:
    path = synth.write_audio(tmp_path / "pre.flac", synth.music(7, 12.0))
    media = decode(path)
    work = FingerprintedWork(
        "Pre", media.duration_s, media.sha256, {"audio_landmarks": AudioLandmarks().reference(media)}
    )
    (first,) = catalog.register_fingerprinted([work], owner="Batch", policy="review")
    assert catalog.register_fingerprinted([work], owner="Batch") == [first]
    assert catalog.register(path, owner="Batch")[0].status == "duplicate"
    assert catalog.work(first).title == "Pre" and catalog.work(first).policy == "review"
    assert [f.work_id for f in scan(catalog, path, record=False).findings] == [first]
    with pytest.raises(InputError):
        catalog.register_fingerprinted(
            [FingerprintedWork("x", 1.0, "0" * 64, {"nope": work.prints["audio_landmarks"]})], owner="Batch"
        )


_KILL_SCRIPT = """
import sys, time
from clearance import Catalog
import clearance.catalog.store as store
real = store.write_generation
def slow(*a, **k):
    path = real(*a, **k)
    print("written", flush=True)
    time.sleep(60)   # killed here: generation on disk, transaction not yet run
    return path
store.write_generation = slow
Catalog.open(sys.argv[1]).register(sys.argv[2], owner="Label A")
"""


def test_killed_registration_leaves_catalogue_consistent(tmp_path: Path, song_files: dict[str, Path]) -> None:
    cat_dir = tmp_path / "catalog"
    with Catalog.open(cat_dir) as cat:
        cat.register(song_files["song1"], owner="Label A")
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(cat_dir), str(song_files["song0"])],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "written"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Catalog.open(cat_dir) as cat:
        assert [w.title for w in cat.works()] == ["song1"]
        assert cat.check() == []
        # The killed writer's content can be registered again, cleanly.
        assert cat.register(song_files["song0"], owner="Label A")[0].status == "registered"
        assert cat.check() == []


def _scan_worker(cat_dir: str, clip: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    from clearance import scan

    with Catalog.open(cat_dir) as cat:
        titles = []
        for _ in range(3):
            titles.append(sorted(f.title for f in scan(cat, clip).findings))
        out.put(titles)


def _register_worker(cat_dir: str, files: list[str]) -> None:
    with Catalog.open(cat_dir) as cat:
        for f in files:
            cat.register(f, owner="Label B")


def test_concurrent_scans_while_registering(tmp_path: Path, song_files: dict[str, Path]) -> None:
    cat_dir = tmp_path / "catalog"
    with Catalog.open(cat_dir) as cat:
        cat.register(song_files["song0"], owner="Label A", title="song0")
    extra = [str(synth.write_audio(tmp_path / f"x{i}.flac", synth.music(300 + i, 10.0))) for i in range(4)]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    scanners = [
        ctx.Process(target=_scan_worker, args=(str(cat_dir), str(song_files["song0"]), queue))
        for _ in range(2)
    ]
    writer = ctx.Process(target=_register_worker, args=(str(cat_dir), extra))
    for p in [writer, *scanners]:
        p.start()
    results = [queue.get(timeout=300) for _ in scanners]
    for p in [writer, *scanners]:
        p.join(timeout=300)
        assert p.exitcode == 0
    for titles in results:
        assert all("song0" in t for t in titles)
    with Catalog.open(cat_dir) as cat:
        assert len(cat.works()) == 5
        assert cat.check() == []
