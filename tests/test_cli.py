"""The CLI end to end, in a subprocess as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from clearance.media import synth
from tests.conftest import excerpt


def run(*args: str, catalog: Path, **env_vars: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLEARANCE_CATALOG": str(catalog), **env_vars}
    return subprocess.run([sys.executable, "-m", "clearance", *args], capture_output=True, text=True, env=env)


def test_register_works_scan(
    tmp_path: Path, song_files: dict[str, Path], songs: dict[str, np.ndarray]
) -> None:
    cat = tmp_path / "cat"
    res = run(
        "register",
        str(song_files["song0"]),
        str(song_files["song1"]),
        "--owner",
        "Label A",
        "--policy",
        "block",
        catalog=cat,
    )
    assert res.returncode == 0, res.stderr
    ids = [line.split("\t")[0] for line in res.stdout.splitlines()]
    assert len(ids) == 2 and all(i.startswith("w") for i in ids)

    listed = run("works", "--json", catalog=cat)
    assert {w["id"] for w in json.loads(listed.stdout)} == set(ids)
    table = run("works", catalog=cat)
    assert ids[0] in table.stdout and "Label A" in table.stdout

    clip = synth.write_video(
        tmp_path / "clip.mp4",
        duration_s=15.0,
        audio=np.concatenate([synth.speech_like(2, 5.0), excerpt(songs["song1"], 3.0, 10.0)]),
    )
    res = run("scan", str(clip), "--json", catalog=cat)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["schema"] == "clearance.scan/1"
    assert report["decision"] == "block"
    [finding] = report["findings"]
    assert finding["work_id"] == ids[1]
    for key in (
        "kind",
        "title",
        "owner",
        "query_start",
        "query_end",
        "ref_start",
        "ref_end",
        "speed",
        "score",
        "policy",
        "evidence",
    ):
        assert key in finding
    assert set(report["input"]) >= {"path", "sha256", "duration", "has_video", "has_audio"}
    assert "total_s" in report["timings"] and "decode_s" in report["timings"]

    res = run("scan", str(clip), catalog=cat)
    assert res.returncode == 0 and "decision: block" in res.stdout and ids[1] in res.stdout

    # A second registration writes a second generation; compact merges them and scans find the same.
    assert run("register", str(song_files["song2"]), "--owner", "Label B", catalog=cat).returncode == 0
    res = run("compact", catalog=cat)
    assert res.returncode == 0 and res.stdout.strip() == "audio_landmarks\t2 -> 1 generations"
    res = run("scan", str(clip), "--json", catalog=cat)
    assert [f["work_id"] for f in json.loads(res.stdout)["findings"]] == [ids[1]]


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp3"
    bad.write_text("not audio")
    cat = tmp_path / "cat"
    for args in (
        ["register", str(bad), "--owner", "x"],
        ["scan", str(bad)],
        ["scan", str(tmp_path / "nope.wav")],
    ):
        res = run(*args, catalog=cat)
        assert res.returncode == 2, (args, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("error:")
        assert "Traceback" not in res.stderr
    assert json.loads(run("works", "--json", catalog=cat).stdout) == []


def test_usage_error_exits_2(tmp_path: Path) -> None:
    res = run("register", catalog=tmp_path / "cat")
    assert res.returncode == 2
    res = run("register", str(tmp_path), "--owner", "x", "--policy", "maybe", catalog=tmp_path / "cat")
    assert res.returncode == 2 and "policy" in res.stderr


def test_demo_runs_and_cleans_up(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    res = run("demo", "--json", catalog=tmp_path / "unused", TMPDIR=str(scratch))
    assert res.returncode == 0, res.stderr
    assert not any(scratch.iterdir())  # the temporary catalogue and clip are gone
    report = json.loads(res.stdout)
    titles = {f["title"] for f in report["findings"]}
    assert "Song A" in titles and "Song B" not in titles
    assert report["decision"] == "block"


def test_register_from_keyframes(tmp_path: Path) -> None:
    """``--keyframes`` registers a video from its keyframes."""
    video = synth.write_video(tmp_path / "v.mp4", frames=synth.footage(7, 6.0, fps=15), fps=15, keyint=15)
    res = run("register", str(video), "--owner", "S", "--keyframes", catalog=tmp_path / "cat")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\t")[1] == "registered"
