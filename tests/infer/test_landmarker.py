"""Inference on real photos with the shipped starter model: API, CLI, bad inputs, video."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipnet106.cli import main
from pipnet106.errors import UserError
from pipnet106.constants import STARTER_ONNX, STARTER_PT
from pipnet106.infer.landmarker import Landmarker

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GROUP = FIXTURES / "group4.jpg"   # 4 frontal faces
PAIR = FIXTURES / "pair2.jpg"     # 2 faces


@pytest.fixture(scope="module")
def group_faces(lm):
    return lm.predict(GROUP)


def test_real_photo_sanity(group_faces):
    """Cheap check that fails loudly if weights or decoding break: eyes in the box, chin below the mouth."""
    assert len(group_faces) == 4
    for f in group_faces:
        x0, y0, x1, y1 = f.box
        for eye in (74, 83):
            x, y = f.points[eye]
            assert x0 <= x <= x1 and y0 <= y <= y1, f"eye centre {eye} outside the detected box"
        assert f.points[16, 1] > f.region("mouth")[:, 1].max(), "chin must be below the mouth"
        assert f.points[74, 0] < f.points[83, 0], "image-left eye must be left of the image-right eye"
        assert f.region("mouth")[:, 1].mean() > f.region("eyes")[:, 1].mean()
        iod = np.linalg.norm(f.points[66] - f.points[79])
        assert 0.3 * (x1 - x0) < iod < 1.0 * (x1 - x0)
        assert f.conf.shape == (106,) and 0 <= f.conf.min() and f.conf.max() <= 1


def test_second_photo(lm):
    assert len(lm.predict(PAIR)) == 2


def _by_x(faces) -> np.ndarray:
    """Points of the faces ordered left to right (detector order may change with the input)."""
    return np.stack([f.points for f in sorted(faces, key=lambda f: f.points[:, 0].mean())])


def test_input_forms_agree(lm, group_faces):
    bgr = cv2.imread(str(GROUP))
    ref = _by_x(group_faces)
    for image, color in [(bgr, "bgr"), (bgr[:, :, ::-1].copy(), "rgb"), (cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA), "bgr")]:
        np.testing.assert_allclose(_by_x(lm.predict(image, color=color)), ref, atol=1e-3)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    faces = lm.predict(gray)
    assert len(faces) == 4
    assert np.abs(_by_x(faces) - ref).mean() < 3.0


def test_exif_rotated_jpeg(lm, group_faces, tmp_path):
    """A JPEG stored sideways with EXIF orientation 6: points land on the image as a viewer shows it."""
    from PIL import Image

    bgr = cv2.imread(str(GROUP))
    stored = cv2.rotate(bgr, cv2.ROTATE_90_COUNTERCLOCKWISE)  # viewer rotates it back clockwise
    im = Image.fromarray(stored[:, :, ::-1])
    exif = im.getexif()
    exif[0x0112] = 6
    path = tmp_path / "sideways.jpg"
    im.save(path, quality=95, exif=exif)
    faces = lm.predict(path)
    assert len(faces) == 4
    assert np.abs(_by_x(faces) - _by_x(group_faces)).mean() < 3.0


def test_given_boxes_skip_detector(lm, group_faces):
    """Given boxes are used as they are (no detector calibration); refinement lands on the same points."""
    boxes = [[*f.box, f.score] for f in group_faces]
    faces = Landmarker(lm.backend, detector=None).predict(GROUP, boxes=boxes)
    assert [f.score for f in faces] == [f.score for f in group_faces]
    assert np.abs(_by_x(faces) - _by_x(group_faces)).mean() < 2.0


def test_batch_of_large_faces_is_cropped_on_threads_identically(lm, group_faces, monkeypatch):
    """Anti-aliased crops of a batch run on a thread pool; the crops equal the one-by-one crops."""
    import pipnet106.infer.landmarker as predict_mod

    img = cv2.imread(str(FIXTURES / "group4.jpg"))
    big = cv2.resize(img, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)   # faces ~480 px: area crops
    transforms = [lm.crop_for_box(np.asarray(f.box) * 4) for f in group_faces]
    assert sum(t.scale < predict_mod.AREA_FILTER_BELOW for t in transforms) >= 2
    serial = Landmarker(lm.backend, detector=None)
    serial.crop_threads = 1
    with Landmarker(lm.backend, detector=None) as pooled:
        pooled.crop_threads = 3
        a, b = serial.preprocess(big, transforms), pooled.preprocess(big, transforms)
        assert serial._pool is None and pooled._pool is not None and pooled._pool._max_workers == 3
        assert np.array_equal(a, b)
        assert np.array_equal(b[1], transforms[1].apply(big))
    assert pooled._pool is None, "close() ends the landmarker's crop threads"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_crops_on_its_own_pool(lm, group_faces):
    """A child forked after the parent used the crop pool still crops (it must not wait on dead threads)."""
    import multiprocessing

    img = cv2.resize(cv2.imread(str(GROUP)), None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    transforms = [lm.crop_for_box(np.asarray(f.box) * 4) for f in group_faces]
    pooled = Landmarker(lm.backend, detector=None)
    pooled.crop_threads = 2
    want = pooled.preprocess(img, transforms)          # the parent's pool now exists
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    child = ctx.Process(target=lambda: q.put(pooled.preprocess(img, transforms).sum(dtype=np.int64)))
    child.start()
    child.join(60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0 and q.get(timeout=5) == want.sum(dtype=np.int64)


def test_max_faces_and_min_size(lm):
    assert len(Landmarker(lm.backend, max_faces=2).predict(GROUP)) == 2
    assert len(Landmarker(lm.backend, min_face_size=10_000).predict(GROUP)) == 0


def test_refinement_changes_little_on_good_boxes(lm, group_faces):
    once = Landmarker(lm.backend, refine=False).predict(GROUP)
    assert len(once) == 4
    assert np.abs(_by_x(once) - _by_x(group_faces)).mean() < 5.0


@pytest.mark.torch
def test_starter_onnx_matches_pytorch(group_faces):
    """The shipped ONNX (float16 storage of BN-folded weights) and the PyTorch starter agree on face crops."""
    torch_lm = Landmarker.from_checkpoint(STARTER_PT)
    onnx_lm = Landmarker.from_onnx(STARTER_ONNX)
    image = cv2.imread(str(GROUP))
    transforms = [onnx_lm.crop_for_box(f.box) for f in group_faces]
    crops = onnx_lm.preprocess(image, transforms)
    p_onnx, c_onnx = onnx_lm.inference(crops)
    p_torch, c_torch = torch_lm.inference(crops)
    d = np.abs(p_onnx - p_torch)
    assert d.mean() < 1e-3 and d.max() < 2e-2, (d.mean(), d.max())
    assert np.abs(c_onnx - c_torch).max() < 2e-2


def test_cli_predict_image_and_folder(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", str(GROUP), "--out", str(out), "--draw"]) == 0
    rec = json.loads((out / "group4.json").read_text())
    assert len(rec["faces"]) == 4 and len(rec["faces"][0]["points"]) == 106
    assert (out / "annotated" / "group4.png").stat().st_size > 10_000
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.jpg").write_bytes(PAIR.read_bytes())
    (folder / "notes.jpg").write_text("this is not an image")
    blank = np.full((200, 300, 3), 255, np.uint8)
    cv2.imwrite(str(folder / "blank.png"), blank)
    assert main(["predict", str(folder), "--out", str(tmp_path / "o2")]) == 1  # finished, 2 images skipped
    text = capsys.readouterr().out
    assert "notes.jpg" in text and "unreadable image" in text
    assert "blank.png: no face found" in text
    lines = [json.loads(x) for x in (tmp_path / "o2" / "predictions.jsonl").read_text().splitlines()]
    by_name = {r["image"]: r for r in lines}
    assert len(by_name["sub/a.jpg"]["faces"]) == 2


def test_cli_boxes_file(tmp_path, group_faces):
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"group4.jpg": [[float(v) for v in f.box] for f in group_faces[:2]]}))
    assert main(["predict", str(GROUP), "--boxes", str(boxes), "--out", str(tmp_path / "o")]) == 0
    assert len(json.loads((tmp_path / "o" / "group4.json").read_text())["faces"]) == 2


def _one_line_error(args, capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pipnet106: error:"), err
    return err[0]


def test_cli_bad_inputs(tmp_path, capsys):
    assert "nope.jpg" in _one_line_error(["predict", str(tmp_path / "nope.jpg")], capsys)
    video = tmp_path / "empty.mp4"
    video.write_bytes(b"")
    assert "empty.mp4" in _one_line_error(["predict", str(video), "--out", str(tmp_path / "o")], capsys)
    fake = tmp_path / "model.onnx"
    fake.write_text("not a model")
    assert "model.onnx" in _one_line_error(["predict", str(GROUP), "--weights", str(fake)], capsys)
    wrong = tmp_path / "weights.pt"
    wrong.write_bytes(b"\x00" * 100)
    assert "weights.pt" in _one_line_error(["predict", str(GROUP), "--weights", str(wrong)], capsys)


def test_cli_rejects_foreign_onnx_and_layout(tmp_path, capsys):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    other = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph), other)
    assert "other.onnx" in _one_line_error(["predict", str(GROUP), "--weights", str(other)], capsys)
    msg = _one_line_error(["predict", str(GROUP), "--weights", str(STARTER_ONNX), "--layout", "ibug68"], capsys)
    assert "lapa106" in msg


def test_video_tracking(lm, tmp_path):
    """A short clip: the detector runs once, tracks keep their ids, smoothing lowers jitter."""
    from pipnet106.infer.video import Tracker

    bgr = cv2.imread(str(PAIR))
    rng = np.random.default_rng(0)
    frames = [np.clip(bgr + rng.normal(0, 5, bgr.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    jitter = {}
    for smooth in (False, True):
        tr = Tracker(lm, smooth=smooth, detect_every=0)
        seq = [tr.update(f, t=i / 30) for i, f in enumerate(frames)]
        assert all(len(fs) == 2 for fs in seq)
        assert tr.detector_calls == 1
        assert [f.track_id for f in seq[-1]] == [f.track_id for f in seq[0]]
        pts = np.stack([np.stack([f.points for f in fs]) for fs in seq])
        jitter[smooth] = np.linalg.norm(np.diff(pts, axis=0), axis=-1).mean()
    assert jitter[True] < jitter[False]


def test_video_cli(tmp_path):
    bgr = cv2.imread(str(PAIR))
    h, w = bgr.shape[:2]
    path = tmp_path / "clip.mp4"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (w, h))
    for _ in range(4):
        vw.write(bgr)
    vw.release()
    if not path.exists() or path.stat().st_size == 0:
        pytest.skip("this OpenCV build cannot write mp4")
    assert main(["predict", str(path), "--out", str(tmp_path / "v"), "--draw", "--smooth"]) == 0
    lines = (tmp_path / "v" / "clip.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(len(json.loads(x)["faces"]) == 2 for x in lines)
    assert (tmp_path / "v" / "clip_annotated.mp4").stat().st_size > 0


def test_onnx_only_prediction_without_torch():
    """Landmarker.from_onnx with torch made unimportable: the whole pipeline still runs."""
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'torchvision'):
            raise ImportError('torch blocked for this test')
sys.meta_path.insert(0, Block())
from pipnet106.infer.landmarker import Landmarker
faces = Landmarker.from_onnx({str(STARTER_ONNX)!r}).predict({str(GROUP)!r})
assert len(faces) == 4, len(faces)
for f in faces:  # pose and reliable too: pose.py needs numpy and OpenCV only
    d = f.to_dict()
    assert set(d['pose']) == {{'yaw', 'pitch', 'roll'}} and isinstance(d['reliable'], bool), d
assert 'torch' not in sys.modules
print('ok', len(faces))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "ok 4" in res.stdout


def test_landmarker_requires_boxes_without_detector(lm):
    with pytest.raises(UserError):
        Landmarker(lm.backend, detector=None).predict(GROUP)


def test_hopeless_proposals_get_no_refinement_pass(lm):
    """A low-score detector proposal on plain background: its first pass is far from confident, so
    it is dropped before the refinement pass, which only the real face gets (counted crops)."""
    from pipnet106.detect import Detection

    image = cv2.imread(str(GROUP))
    face = [702.0, 147.0, 829.0, 274.0]
    wall = [880.0, 20.0, 1000.0, 140.0]  # plain background in the top right corner

    class Fake:
        confirm = (0.5, 0.45)
        landmark_box = None

        def __call__(self, img):
            return [Detection(np.array(face), 0.9), Detection(np.array(wall), 0.3)]

    probe = Landmarker.default()
    probe.detector = Fake()
    seen = []
    real_infer = probe._infer
    probe._infer = lambda crops: (seen.append(len(crops)), real_infer(crops))[1]
    faces = probe.predict(image)
    assert seen == [2, 1]  # two first passes, one refinement
    assert len(faces) == 1 and np.allclose(faces[0].box, face)
    # the same face with given boxes (no proposals) gets the same points
    given = probe.predict(image, boxes=[face])
    np.testing.assert_allclose(given[0].points, faces[0].points, atol=1e-4)


# ---- one face per face (issue 23, item 4): detections replayed on crops of the shared photos

DUPLICATES = json.loads((FIXTURES / "photo_faces.json").read_text())["duplicates"]["cases"]


def _replay(case: dict, only: list[int] | None = None):
    """The default detector's boxes on `case`'s photo, shifted onto its fixture crop, with the
    BlazeFace calibration and proposal rule (what `Landmarker.default()` sees on the whole photo)."""
    from pipnet106.detect import Detection
    from pipnet106.detect.blazeface import BlazeFaceDetector

    x0, y0 = case["crop"][:2]
    rows = [d for i, d in enumerate(case["detections"]) if only is None or i in only]

    class Replay:
        landmark_box = BlazeFaceDetector.landmark_box
        confirm = (0.5, BlazeFaceDetector.CONFIRM_CONF)

        def __call__(self, image):
            return [Detection(np.array(d[:4]) - [x0, y0, x0, y0], d[4]) for d in rows]

    return Replay()


def _case_faces(lm, case, only=None):
    probe = Landmarker(lm.backend, detector=_replay(case, only))
    x0, y0 = case["crop"][:2]
    return probe.predict(FIXTURES / case["file"]), np.array([x0, y0, x0, y0], float)


@pytest.mark.parametrize("case", DUPLICATES, ids=[c["file"] for c in DUPLICATES])
def test_a_face_detected_twice_is_returned_once(lm, case):
    """Two detections of one face (a box around it, a part of it, a candidate whose points slid onto
    it): one face comes back, the detection of the true face, whose points agree with its box."""
    from pipnet106.detect import box_iou

    faces, shift = _case_faces(lm, case)
    assert len(faces) == 1, [f.box + shift for f in faces]
    assert box_iou(np.array(case["face"], float), (faces[0].box + shift)[None])[0] > 0.7
    assert faces[0].box_agreement > 0.75


def test_points_that_left_their_box_are_not_reliable(lm):
    """slid16.jpg: the candidate beside a face, alone, gets that face's points (refinement slid
    them over): they do not agree with its box, so it is not reliable, and the reason says why."""
    case = next(c for c in DUPLICATES if c["file"] == "slid16.jpg")
    (face,), _ = _case_faces(lm, case, only=[0])
    assert face.box_agreement < 0.45
    ok, why = face.reliability()
    assert not ok and any(w.startswith("points off their box") for w in why)
    assert face.to_dict()["reliable"] is False
    # the true face's own detection is reliable; given boxes are not checked against a calibration
    (real,), _ = _case_faces(lm, case, only=[1])
    assert real.reliable and real.box_agreement > 0.75
    (given,) = Landmarker(lm.backend).predict(FIXTURES / case["file"], boxes=[face.box])
    assert given.box_agreement is None


def test_reasons_compare_what_they_print(lm):
    """nested26.jpg: the true face is 19.9x px; the reason used to read 'small face 20 px < 20'."""
    import re

    case = next(c for c in DUPLICATES if c["file"] == "nested26.jpg")
    (face,), _ = _case_faces(lm, case, only=[1])
    ok, why = face.reliability()
    (small,) = [w for w in why if w.startswith("small face")]
    shown, limit = (float(v) for v in re.fullmatch(r"small face ([\d.]+) px < ([\d.]+)", small).groups())
    assert not ok and shown < limit


def test_phone_size_photo_costs_like_a_small_one_and_finds_its_faces(lm, group_faces):
    """group4.jpg upscaled 4x (4096x1936, a phone's size): the default searches for faces of 2% of
    sqrt(width * height) (56 px), not 24 px: far fewer network runs, and the four faces are found
    where they are on the small photo, reliable; --min-face-size still overrides."""
    from pipnet106.detect import box_iou
    from pipnet106.detect.blazeface import auto_min_face

    big = cv2.resize(cv2.imread(str(GROUP)), None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    h, w = big.shape[:2]
    auto = Landmarker(lm.backend)
    assert auto.detector.min_face_for(w, h) == auto_min_face(w, h, 24) > 50
    fixed = Landmarker(lm.backend, min_face_size=24)
    assert fixed.detector.min_face_for(w, h) == 24 and fixed.min_face_size == 24
    assert 4 * auto.detector.runs(w, h) <= fixed.detector.runs(w, h)  # 33 against 158
    faces = auto.predict(big)
    small = np.array([f.box for f in group_faces]) * 4
    real = [f for f in faces if box_iou(f.box, small).max() > 0.7]
    assert len(real) == 4 and all(f.reliable for f in real)
    assert all(not f.reliable for f in faces if all(f is not r for r in real))
    assert Landmarker(lm.backend, min_face_size="auto").detector.min_face_for(w, h) == auto.detector.min_face_for(w, h)
    assert Landmarker(lm.backend, min_face_size=None).detector.auto_min_face
    with pytest.raises(UserError, match="min_face_size"):
        Landmarker(lm.backend, min_face_size="tiny")


def test_onnx_sessions_stop_spinning_when_a_run_returns():
    """onnxruntime's pool threads used to spin after every run (about 20 ms of a core), competing
    with the crops, the detector's network and the app between two runs; every session of the
    pipeline now stops them when a run returns, and the default detector runs on the landmark
    model's thread count (checked on the sessions' own options: no timing)."""
    lm = Landmarker.from_onnx(STARTER_ONNX, threads=1)
    for sess in (lm.backend.session, lm.detector.runner.sess):
        opts = sess.get_session_options()
        assert opts.intra_op_num_threads == 1
        try:
            stop = opts.get_session_config_entry("session.force_spinning_stop")
        except RuntimeError:  # onnxruntime's answer for a key never set
            stop = None
        assert stop == "1"
