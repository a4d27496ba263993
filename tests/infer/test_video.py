"""Video tracking on synthetic clips with exact truth: following, drift re-detection, clean ends,
new faces, boxes without a detector, the annotated video file."""
from __future__ import annotations

import json
import os
import stat

import cv2
import numpy as np
import pytest

from pipnet106 import Landmarker
from pipnet106.cli import main
from pipnet106.crop import points_box
from pipnet106.synth.faces import render_face
from pipnet106.synth.video import ClipScript, FaceScript, default_script, render_clip, tracking_metrics
from pipnet106.infer.video import Tracker


@pytest.fixture(scope="module")
def lm() -> Landmarker:
    return Landmarker.default(threads=1)


def run(tracker: Tracker, clip) -> list[list]:
    return [tracker.update(f, t=i / 30) for i, (f, _) in enumerate(clip)]


def jump_script(frames=12, jump_at=6) -> ClipScript:
    """A still face that jumps 1.5 face widths sideways in one frame, then stays."""
    return ClipScript([FaceScript(seed=11, keys={0: (90, 120, 90, 0, 0, 0), jump_at - 1: (90, 120, 90, 0, 0, 0),
                                                  jump_at: (230, 125, 90, 0, 0, 0), frames: (230, 125, 90, 0, 0, 0)})],
                      width=320, height=240, frames=frames, noise=3.0, still=[(0, jump_at), (jump_at, frames)])


def test_tracker_follows_the_synthetic_clip(lm):
    script = default_script(frames=60, width=320, height=240)
    clip = list(render_clip(script))
    tr = Tracker(lm, smooth=True)
    seq = run(tr, clip)
    m = tracking_metrics(script, [c[1] for c in clip], [[f.points for f in fs] for fs in seq])
    main_face = m["faces"][0]
    assert main_face["frames_tracked"] == 60 and main_face["max_drift_run"] <= 2, main_face
    assert main_face["nme_mean"] < 0.09
    second = m["faces"][1]
    assert second["first_tracked_after"] is not None and second["first_tracked_after"] <= tr.scan_frames + 3, second
    assert m["ghost_faces"] <= 1
    # box and score come from this frame's landmarks: they move with the face
    ids = [f.track_id for f in seq[0]]
    first = next(f for f in seq[0] if f.track_id == ids[0])
    later = next(f for f in seq[19] if f.track_id == ids[0])
    assert abs(later.box[0] - first.box[0]) > 10 and later.score != first.score
    last = {f.track_id: f for f in seq[-1]}
    for t in tr.tracks:  # the reported box is the landmark box of the raw points
        np.testing.assert_allclose(last[t.id].box, points_box(t.raw))
        # what the drift checks read is worked out once per frame, from the same points
        assert t.score == pytest.approx(float(t.conf.mean())) == last[t.id].score
        assert t.iod == pytest.approx(float(lm.layout.norm_distance(t.raw)))
    assert all(np.isfinite(f.points).all() for fs in seq for f in fs)


def test_drifting_track_is_redetected_in_the_same_frame(lm):
    """A fast move with roll, then a jump of half a face width: unchecked, the crop from the last
    points slips off the face and stays there (error ~85% IOD); checked, the same track is
    re-detected in the jump frame."""
    script = ClipScript([FaceScript(seed=11, keys={0: (140, 130, 100, 0, 0, 0), 3: (140, 130, 100, 0, 0, 0),
                                                   8: (180, 130, 100, 0, 0, -15), 9: (230, 130, 100, 0, 0, -15),
                                                   12: (230, 130, 100, 0, 0, -15)})],
                        width=320, height=240, frames=12, noise=3.0, still=[(0, 3), (9, 12)])
    clip = list(render_clip(script))
    truths = [c[1] for c in clip]
    errors = {}
    for name, kw in (("checked", {}), ("unchecked", {"drift": None, "scan_frames": 0, "detect_every": 30})):
        tr = Tracker(lm, smooth=False, **kw)
        seq = run(tr, clip)
        m = tracking_metrics(script, truths, [[f.points for f in fs] for fs in seq])
        errors[name] = max(m["faces"][0]["nme_per_frame"][9:])
        if name == "checked":
            assert tr.redetections >= 1 and m["faces"][0]["drift_frames"] == 0
            assert {f.track_id for fs in seq for f in fs} == {0}  # the same track, re-started in place
    assert errors["checked"] < 0.1 < 0.3 < errors["unchecked"], errors


def test_lost_face_ends_cleanly_and_is_not_drawn(lm):
    from pipnet106.draw import draw_faces

    img, _ = render_face(np.random.default_rng(11), 320, 240, yaw=0, pitch=0, roll=0, scale=100, centre=(160, 120))
    blank = np.full_like(img, 128)
    tr = Tracker(lm, smooth=True)
    assert len(tr.update(img, t=0)) == 1
    gone = tr.update(blank, t=1 / 30)
    assert gone == [] and tr.tracks == []
    assert np.array_equal(draw_faces(blank, gone), blank)
    back = tr.update(img, t=2 / 30)  # picked up again by the scan (within scan_frames frames)
    for i in range(3, 3 + tr.scan_frames):
        back = back or tr.update(img, t=i / 30)
    assert len(back) == 1 and back[0].track_id == 1


def test_boxes_start_tracks_without_a_detector(lm):
    script = jump_script(frames=10, jump_at=6)
    clip = list(render_clip(script))
    box = points_box(clip[0][1][0])
    tr = Tracker(Landmarker(lm.backend, detector=None), smooth=False)
    assert tr.update(clip[0][0], t=0) == []  # nothing to follow yet, and no detector
    seq = [tr.update(clip[1][0], t=1 / 30, boxes=[[*box, 0.9]])]
    seq += [tr.update(f, t=i / 30) for i, (f, _) in enumerate(clip[2:], 2)]
    assert all(len(fs) == 1 for fs in seq[:4])
    assert seq[-1] == []  # after the jump it cannot be found again without a detector: it ends


def test_video_cli_with_boxes_and_file_modes(tmp_path):
    script = ClipScript([FaceScript(seed=11, keys={0: (120, 120, 100, 0, 0, 0), 5: (130, 120, 100, 0, 0, 0)})],
                        width=320, height=240, frames=6, noise=3.0)
    clip = list(render_clip(script))
    path = tmp_path / "clip.mp4"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (script.width, script.height))
    for f, _ in clip:
        vw.write(f)
    vw.release()
    if not path.exists() or path.stat().st_size == 0:
        pytest.skip("this OpenCV build cannot write mp4")
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"clip.mp4": [[*points_box(clip[0][1][0]), 1.0]]}))
    out = tmp_path / "v"
    assert main(["predict", str(path), "--boxes", str(boxes), "--out", str(out), "--draw"]) == 0
    lines = [json.loads(x) for x in (out / "clip.jsonl").read_text().splitlines()]
    assert len(lines) == 6 and all(len(x["faces"]) == 1 for x in lines)
    assert {"pose", "reliable", "track_id"} <= set(lines[0]["faces"][0])
    video_mode = stat.S_IMODE((out / "clip_annotated.mp4").stat().st_mode)
    assert video_mode == stat.S_IMODE((out / "clip.jsonl").stat().st_mode) and video_mode & 0o044
    assert not [p for p in os.listdir(out) if p.startswith(".")]  # no temporary file left
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({"something_else.mp4": []}))
    assert main(["predict", str(path), "--boxes", str(bad), "--out", str(tmp_path / "w")]) == 2


def test_smoothing_keeps_a_three_frame_blink():
    """The Tracker's One-Euro smoothing (`SMOOTHING`, on points in face-size units as `Tracker.update`
    applies it) calms jitter but must not hide a blink: a 3-frame blink at 30 fps (half shut, shut,
    half open) keeps at least half of its depth in the smoothed eye openness, on both eyes."""
    from pipnet106.infer.video import SMOOTHING, OneEuroFilter
    from pipnet106.layout import LAPA106
    from pipnet106.measures import eye_openness

    pts = render_face(np.random.default_rng(0), 256, 256)[1].astype(np.float64)
    upper, lower = [67, 68, 69, 76, 77, 78], [73, 72, 71, 82, 81, 80]
    scale = float(LAPA106.norm_distance(pts, "bbox"))
    rng = np.random.default_rng(1)
    filt, raw, smooth = OneEuroFilter(*SMOOTHING), [], []
    for k in range(60):
        shut = {30: 0.5, 31: 1.0, 32: 0.5}.get(k, 0.0)
        p = pts.copy()
        p[upper] += shut * (pts[lower] - pts[upper])
        p += rng.normal(0, 0.003 * scale, p.shape)                    # detector jitter, 0.3% of the face
        raw.append(eye_openness(p))
        smooth.append(eye_openness(filt(p / scale, k / 30.0) * scale))
    raw, smooth = np.array(raw), np.array(smooth)                     # (60, 2)
    open_raw, open_smooth = raw[20:30].mean(0), smooth[20:30].mean(0)
    depth = (open_smooth - smooth[30:36].min(0)) / (open_raw - raw[30:33].min(0))
    assert (depth > 0.5).all(), depth
    assert (smooth[10:30].std(0) < 0.5 * raw[10:30].std(0)).all()    # and it does smooth


# ---- the per-frame arithmetic, written for speed, against its textbook definitions (issue 23 item 7)

def textbook_one_euro(xs, ts, min_cutoff, beta, d_cutoff):
    """Casiez et al.'s filter as written in the paper: alpha = 1 / (1 + tau / dt), tau = 1 / (2 pi fc)."""
    alpha = lambda fc, dt: 1.0 / (1.0 + 1.0 / (2 * np.pi * fc) / dt)
    x_hat, dx_hat, out = xs[0], np.zeros_like(xs[0]), [xs[0]]
    for i in range(1, len(xs)):
        dt = ts[i] - ts[i - 1]
        a_d = alpha(d_cutoff, dt)
        dx_hat = a_d * (xs[i] - x_hat) / dt + (1 - a_d) * dx_hat
        a = alpha(min_cutoff + beta * np.abs(dx_hat), dt)
        x_hat = a * xs[i] + (1 - a) * x_hat
        out.append(x_hat)
    return np.array(out)


def test_one_euro_filter_is_the_textbook_filter():
    from pipnet106.infer.video import OneEuroFilter

    rng = np.random.default_rng(3)
    xs = np.cumsum(rng.normal(0, 2, (40, 106, 2)), axis=0)
    ts = np.cumsum(rng.uniform(0.01, 0.05, 40))      # uneven frame times
    f = OneEuroFilter(0.1, 20.0, 1.0)
    got = np.array([f(x, t) for x, t in zip(xs, ts)])
    np.testing.assert_allclose(got, textbook_one_euro(xs, ts, 0.1, 20.0, 1.0), rtol=0, atol=1e-9)


def test_pixel_filter_with_scaled_beta_is_the_face_unit_filter():
    """The tracker filters pixels with beta / scale: the same as filtering points / scale with beta."""
    from pipnet106.infer.video import OneEuroFilter

    rng = np.random.default_rng(4)
    scale = 87.5
    xs = 300 + np.cumsum(rng.normal(0, 3, (30, 106, 2)), axis=0)
    ts = np.arange(30) / 30
    px, unit = OneEuroFilter(0.1, 20.0 / scale, 1.0), OneEuroFilter(0.1, 20.0, 1.0)
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(px(x, t), unit(x / scale, t) * scale, rtol=0, atol=1e-9)


def test_drift_edge_rule_matches_its_definition_in_crop_units(lm):
    """A point within `edge` of the crop border in crop units, as the rule says, checked on random
    crops and point clouds around and across the border, and non-finite points always drift."""
    from pipnet106.crop import CropTransform
    from pipnet106.infer.video import DriftRule, Track

    rule = DriftRule()
    tracker = Tracker(lm, drift=rule)
    rng = np.random.default_rng(5)
    seen = set()
    for _ in range(400):
        crop = CropTransform(float(rng.uniform(0.2, 3)), float(rng.uniform(-500, 500)), float(rng.uniform(-500, 500)), 128)
        spread = rng.uniform(0.2, 0.6)   # from well inside the crop to across its border
        in_crop = 0.5 + rng.uniform(-spread, spread, (106, 2))
        pts = crop.to_source(in_crop * crop.size)
        tr = Track(0, pts, np.ones(106), points_box(pts), 1.0, iod=1.0)
        box = points_box(pts).tolist()
        want = float(((in_crop < rule.edge) | (in_crop > 1 - rule.edge)).any(axis=1).mean()) > rule.edge_share
        assert tracker._drifts(1.0, tr, crop, box) == want
        seen.add(want)
        bad = pts.copy()
        bad[7, 0] = np.nan
        bad_box = bad.min(axis=0).tolist() + bad.max(axis=0).tolist()   # as `_follow` makes it
        assert tracker._drifts(1.0, Track(0, bad, np.ones(106), points_box(bad), 1.0, iod=1.0), crop, bad_box)
    assert seen == {True, False}
