"""Retouching on video (ramps, shimmer with and without smoothing) and the `retouch` command."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipnet106.cli import main
from pipnet106.retouch import PRESETS, Adjustments
from pipnet106.retouch.warp import face_field
from pipnet106.retouch.video import VideoRetoucher, field_shimmer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PAIR = FIXTURES / "pair2.jpg"
GROUP = FIXTURES / "group4.jpg"


def _still_clip(n: int, sigma: float = 6.0, seed: int = 0) -> list[np.ndarray]:
    """The pair photo as a still clip with fresh pixel noise each frame."""
    img = cv2.imread(str(PAIR)).astype(np.int16)
    rng = np.random.default_rng(seed)
    return [np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8) for _ in range(n)]


def test_ramp_in_and_out(lm):
    adj = Adjustments(face_slim=0.8, eye_size=0.5)
    vr = VideoRetoucher(lm, adj, ramp_s=0.3)
    frames = _still_clip(14)
    r0 = vr.process(frames[0], 0.0)
    assert len(r0.weights) == 2 and max(r0.weights) < 0.05, "a new face starts (almost) unedited"
    assert np.array_equal(r0.image, frames[0])
    w = []
    for i, f in enumerate(frames[1:12], start=1):
        w.append(min(vr.process(f, i / 30).weights))
    assert all(b >= a for a, b in zip(w, w[1:])), "the ramp rises monotonically"
    assert 0 < w[2] < 1 and w[-1] == 1.0
    # the tracks are lost: the edits fade out on the faces' last points, then stop
    vr.tracker.update = lambda frame, t, **kw: []
    vr.update(frames[12], 12 / 30)
    r = vr.process(frames[13], 13 / 30)
    assert len(r.weights) == 2 and 0 < max(r.weights) < 1
    assert not np.array_equal(r.image, frames[13])
    for i in range(14, 25):
        r = vr.process(frames[i % 14], i / 30)
    assert r.weights == [] and np.array_equal(r.image, frames[24 % 14])


def test_shimmer_falls_with_smoothing(lm):
    adj = PRESETS["natural"]
    frames = _still_clip(12)
    result = {}
    for smooth in (False, True):
        vr = VideoRetoucher(lm, adj, smooth=smooth, ramp_s=0.0)
        prev, shimmer = {}, []
        for i, f in enumerate(frames):
            for face in vr.process(f, i / 30).faces:
                fld = face_field(face, adj, f.shape)
                if i >= 4 and face.track_id in prev:     # after the filter settled
                    width = float(np.linalg.norm(face.points[0] - face.points[32]))
                    shimmer.append(field_shimmer(prev[face.track_id], fld, width))
                prev[face.track_id] = fld
        result[smooth] = float(np.mean(shimmer))
    assert result[True] < 0.6 * result[False], result


def _write_clip(path: Path, frames: list[np.ndarray], fps: float = 15.0) -> None:
    h, w = frames[0].shape[:2]
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        wr.write(f)
    wr.release()


def test_cli_video(tmp_path, capsys):
    clip = tmp_path / "still.mp4"
    _write_clip(clip, _still_clip(8))
    assert main(["retouch", str(clip), "--out", str(tmp_path / "o"), "--preset", "natural", "--json",
                 "--compare"]) == 0
    out = tmp_path / "o" / "still_retouched.mp4"
    cap = cv2.VideoCapture(str(out))
    n = 0
    ok, frame = cap.read()
    while ok:
        n += 1
        assert frame.shape[1] == 2 * 450
        ok, frame = cap.read()
    assert n == 8
    lines = (tmp_path / "o" / "still_retouched.jsonl").read_text().splitlines()
    assert len(lines) == 8 and json.loads(lines[-1])["faces"][0]["track_id"] >= 0
    assert json.loads(lines[0])["faces"][0]["weight"] < 0.05 < json.loads(lines[-1])["faces"][0]["weight"]
    # written atomically with the usual permissions (not mkstemp's 0600), no temp file left
    assert out.stat().st_mode & 0o044 and sorted(p.name for p in out.parent.iterdir()) == [
        "still_retouched.jsonl", "still_retouched.mp4"]


def test_cli_image_folder_json_compare(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["retouch", str(GROUP), "--out", str(out), "--face-slim", "0.4", "--eye-size", "0.3",
                 "--lipstick", "#c8102e:0.5", "--faces", "1,2", "--json", "--compare"]) == 0
    rec = json.loads((out / "group4.json").read_text())
    assert [f["index"] for f in rec["faces"]] == [1, 2]
    assert rec["faces"][0]["applied"]["face_slim"] == 0.4 and rec["faces"][0]["applied"]["lipstick"] == "#c8102e"
    before, after = cv2.imread(str(GROUP)), cv2.imread(str(out / "group4.jpg"))
    assert after.shape == before.shape
    assert cv2.imread(str(out / "group4_compare.jpg")).shape[1] == 2 * before.shape[1]
    # folder: resumable, one JSONL record per image
    src = tmp_path / "in"
    src.mkdir()
    for p in (GROUP, PAIR):
        (src / p.name).write_bytes(p.read_bytes())
    (src / "broken.jpg").write_bytes(b"not an image")
    assert main(["retouch", str(src), "--out", str(tmp_path / "f"), "--preset", "slim", "--json"]) == 1
    text = capsys.readouterr().out
    assert "2/3 images" in text and "broken.jpg" in text
    assert len((tmp_path / "f" / "retouch.jsonl").read_text().splitlines()) == 2
    main(["retouch", str(src), "--out", str(tmp_path / "f"), "--preset", "slim"])
    assert "2 already done" in capsys.readouterr().out


@pytest.mark.parametrize("argv, flag", [
    (["--face-slim", "1.5"], "--face-slim"), (["--eye-size", "big"], "--eye-size"),
    (["--lipstick", "blurple"], "--lipstick"), (["--lipstick", "red:2"], "--lipstick"),
    (["--smooth-skin", "-1"], "--smooth-skin"), (["--preset", "nope"], "--preset"),
    (["--strength", "9"], "--strength"), (["--faces", "a,b"], "--faces"), (["--blush", "x"], "--blush"),
])
def test_cli_bad_values_one_line(tmp_path, capsys, argv, flag):
    assert main(["retouch", str(PAIR), "--out", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("pipnet106: error: " + flag)
    assert not (tmp_path / "o").exists()


def test_cli_given_boxes_and_list(tmp_path, capsys):
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"pair2.jpg": [[90, 29, 163, 102]], "still.mp4": [[292, 101, 357, 165]]}))
    clip = tmp_path / "still.mp4"
    _write_clip(clip, _still_clip(3))
    assert main(["retouch", str(clip), "--out", str(tmp_path / "v"), "--boxes", str(boxes), "--face-slim", "0.5",
                 "--json", "--ramp", "0"]) == 0
    frames = [json.loads(ln) for ln in (tmp_path / "v" / "still_retouched.jsonl").read_text().splitlines()]
    assert [len(f["faces"]) for f in frames] == [1, 1, 1], "only the given face is tracked (no detector)"
    assert main(["retouch", str(PAIR), "--out", str(tmp_path / "o"), "--boxes", str(boxes), "--face-slim", "0.5",
                 "--json"]) == 0
    rec = json.loads((tmp_path / "o" / "pair2.json").read_text())
    assert rec["faces_found"] == 1
    assert main(["retouch", "--list"]) == 0
    assert "--face-slim" in capsys.readouterr().out


def test_confidence_flicker_fades_instead_of_popping(lm):
    """A face whose confidence jumps across the limit every frame: its edit changes by at most
    dt / ramp_s per frame (rate-limited reliability), never 0 -> 1 at once."""
    from pipnet106.infer.landmarker import Face

    img = cv2.imread(str(PAIR))
    base = lm.predict(img)[0]
    vr = VideoRetoucher(lm, Adjustments(face_slim=0.8), ramp_s=0.3)
    flip = [0.3, 0.7]
    calls = {"n": 0}

    def fake_update(frame, t, **kw):
        calls["n"] += 1
        c = np.full_like(base.conf, flip[calls["n"] % 2])
        return [Face(base.box, 1.0, base.points, c, base.layout, track_id=0)]

    vr.tracker.update = fake_update
    applied = []
    for i in range(12):
        report = vr.process(img, i / 30).report
        applied.append(report[0].weight if report else 0.0)
    steps = np.abs(np.diff(applied))
    assert steps.max() < 0.3, applied                  # ramp-in (smoothstep) and trust limit together
    assert steps[9:].max() <= (1 / 30) / 0.3 + 1e-6, applied   # after the ramp: the trust limit alone
    assert applied[-1] > 0.5
