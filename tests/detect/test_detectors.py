"""Face detectors: bundled BlazeFace on real photos, box files, registry, helpers.

Fixture photos (tests/fixtures, MIT, see LICENSE-photos.txt): group4.jpg has 4
frontal faces side by side, pair2.jpg has 2 (plus hands shaking in between).
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipnet106.detect import (BoxesDetector, Detection, FaceDetector, box_iou, get_detector, load_boxes, nms,
                              register_detector, run_detector)
from pipnet106.detect import base as detect_base
from pipnet106.detect import blazeface as bf
from pipnet106.errors import SampleError, UserError
from pipnet106.fileio import read_image

FIX = Path(__file__).resolve().parents[1] / "fixtures"
from pipnet106.constants import ASSETS


@pytest.fixture(scope="module")
def group4():
    return read_image(FIX / "group4.jpg")


@pytest.fixture(scope="module")
def pair2():
    return read_image(FIX / "pair2.jpg")


@pytest.fixture(scope="module")
def full():
    return get_detector("blazeface", threads=1)


def assert_inside(dets, image):
    h, w = image.shape[:2]
    for d in dets:
        x0, y0, x1, y1 = d.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, d.box
        assert 0.0 <= d.score <= 1.0


# ------------------------------------------------------------------ BlazeFace

def test_model_files_are_shipped_small_and_licensed():
    for spec in bf.MODELS.values():
        path = ASSETS / spec.file
        assert path.is_file() and 100_000 < path.stat().st_size < 1_500_000
    assert "Apache" in (ASSETS / "NOTICE-mediapipe.txt").read_text()
    assert (FIX / "LICENSE-photos.txt").is_file() and (ASSETS / "demo" / "LICENSE-photos.txt").is_file()
    assert (ASSETS / "demo" / "group4.jpg").stat().st_size < 300_000


def test_anchor_layout_matches_model_outputs():
    short = bf.ssd_anchor_centres(128, (8, 16, 16, 16), 2)
    full = bf.ssd_anchor_centres(192, (4,), 1)
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    # stride 8: 16x16 cells, 2 anchors each, first cell centre (0.5/16, 0.5/16)
    np.testing.assert_allclose(short[0], short[1])
    np.testing.assert_allclose(short[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(short[2], [1.5 / 16, 0.5 / 16])
    # stride 16 part: 8x8 cells with 6 anchors each
    np.testing.assert_allclose(short[512:518], np.tile([0.5 / 8, 0.5 / 8], (6, 1)))
    np.testing.assert_allclose(full[-1], [47.5 / 48, 47.5 / 48])


def test_finds_all_faces_in_group_photo(full, group4):
    assert isinstance(full, FaceDetector)
    dets = full(group4)
    assert len(dets) >= 4
    assert_inside(dets, group4)
    top4 = sorted(dets[:4], key=lambda d: d.box[0])
    xs = [(d.box[0] + d.box[2]) / 2 for d in top4]
    assert np.all(np.diff(xs) > 100), xs  # four different people, left to right
    for d in top4:
        assert d.score > 0.8 and 80 < d.width < 200
        k = d.keypoints
        assert k.shape == (6, 2)
        # eyes, nose and mouth lie inside the face box; eyes above the mouth
        assert np.all((k[:4, 0] > d.box[0]) & (k[:4, 0] < d.box[2]) & (k[:4, 1] > d.box[1]) & (k[:4, 1] < d.box[3]))
        assert max(k[0, 1], k[1, 1]) < k[3, 1]


@pytest.mark.parametrize("model", ["short", "full"])
def test_both_models_find_the_pair(model, pair2):
    dets = get_detector("blazeface", model=model, threads=1)(pair2)
    assert len(dets) >= 2
    assert_inside(dets, pair2)
    truth = np.array([[89, 35, 155, 101], [300, 102, 368, 171]], dtype=float)  # checked by eye
    for t in truth:
        assert box_iou(t, np.stack([d.box for d in dets])).max() > 0.5


def test_boxes_follow_the_image_when_it_is_scaled_and_padded(full, pair2):
    """Mapping back to source pixels: a scaled, shifted copy gives scaled, shifted boxes."""
    ref = sorted(full(pair2), key=lambda d: d.box[0])[:2]
    big = cv2.resize(pair2, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_LINEAR)
    big = cv2.copyMakeBorder(big, 40, 0, 100, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    got = sorted(full(big), key=lambda d: d.box[0])[:2]
    for r, g in zip(ref, got):
        expect = r.box * 1.5 + np.array([100, 40, 100, 40])
        assert box_iou(expect, g.box[None])[0] > 0.75, (expect, g.box)


@pytest.mark.parametrize("gray", [False, True])
def test_close_up_portrait_is_found(full, group4, gray):
    """A face filling a 350-px photo (the usual pre-cropped portrait): letterboxed whole, the
    full-range model finds nothing; the zoomed-out whole-image run finds it."""
    cx, cy, half = 179.5, 187.5, 0.42 * 119  # the left face of group4, cropped to fill the photo
    crop = group4[int(cy - half):int(cy + half), int(cx - half):int(cx + half)]
    crop = cv2.resize(crop, (350, 350), interpolation=cv2.INTER_CUBIC)
    if gray:
        crop = cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    assert not [d for d in full.detect_window(crop) if d.score >= 0.5]  # the case the zoom-out is for
    dets = full(crop)
    assert len(dets) == 1
    side = np.sqrt((dets[0].box[2] - dets[0].box[0]) * (dets[0].box[3] - dets[0].box[1]))
    assert 200 < side < 400  # the whole face, not a part of it


def test_tiles_cover_the_image_with_overlap():
    tiles = bf.tile_grid(1000, 700, 400)
    cover = np.zeros((700, 1000), bool)
    for x0, y0, x1, y1 in tiles:
        assert x1 - x0 <= 400 and y1 - y0 <= 400
        cover[y0:y1, x0:x1] = True
    assert cover.all()
    xs = sorted({t[0] for t in tiles})
    assert all(b - a <= 300 for a, b in zip(xs, xs[1:]))  # >= 25% overlap
    det = bf.BlazeFaceDetector(tile=512, max_tiles=4, threads=1)
    assert 0 < len(det.windows(4000, 3000)) <= 4
    assert det.windows(600, 400) == []


def test_pyramid_is_chosen_from_image_size_and_min_face_size():
    # small photo: the whole-image run already sees 24-px faces large enough
    # (twice: letterboxed, and zoomed out for faces that fill the photo)
    assert [(len(lv.windows), lv.fill) for lv in bf.scale_plan(300, 200, 192, 24)] == [(0, 1.0), (0, bf.ZOOM_OUT_FILL)]
    plan = bf.scale_plan(1024, 768, 192, 24)
    assert len(plan) == 3 and not plan[-1].windows and not plan[-2].windows
    fine = plan[0]
    # the smallest face becomes FACE_INPUT_PX network pixels (or up to FIT_SLACK fewer, when that saves
    # windows: 5 x 3 -> 4 x 3 here), the windows cover the image with overlap
    assert bf.FACE_INPUT_PX / 24 / (1 + bf.FIT_SLACK) <= fine.scale <= bf.FACE_INPUT_PX / 24
    assert len(fine.windows) == 12 and bf.BlazeFaceDetector(threads=1).runs(1024, 768) == 14
    assert len(bf.scale_plan(1024, 768, 192, 24, overlap=0.25)[0].windows) < len(
        bf.tile_grid(1024, 768, int(np.ceil(192 * 24 / bf.FACE_INPUT_PX))))
    cover = np.zeros((768, 1024), bool)
    for x0, y0, x1, y1 in fine.windows:
        cover[y0:y1, x0:x1] = True
    assert cover.all()
    det = bf.BlazeFaceDetector(threads=1)
    runs = [bf.BlazeFaceDetector(min_face_size=m, threads=1).runs(1024, 768) for m in (16, 24, 32, 48, 80)]
    assert runs == sorted(runs, reverse=True) and runs[-1] == 2 and det.runs(1024, 768) == runs[1]
    # a face size between two levels is never left to a level too coarse for it: 48 px on 1024 px
    assert len(bf.scale_plan(1024, 768, 192, 48)) == 3
    # very large photos: each level is capped, finest first coarsened
    huge = bf.scale_plan(8000, 6000, 192, 24, max_windows=50)
    assert all(len(lv.windows) <= 50 for lv in huge) and len(huge) >= 3


def test_pyramid_finds_small_faces_the_whole_image_run_misses(pair2):
    """Twelve copies of the two fixture faces shrunk to about 28 px on a 1600x1000 canvas."""
    faces = cv2.resize(pair2, None, fx=0.42, fy=0.42, interpolation=cv2.INTER_AREA)  # faces ~28 px
    h, w = faces.shape[:2]
    canvas = np.full((1000, 1600, 3), 90, np.uint8)
    truth = []
    for k in range(6):
        x, y = 40 + (k % 3) * 520, 80 + (k // 3) * 480
        canvas[y:y + h, x:x + w] = faces
        truth += [np.array([89, 35, 155, 101]) * 0.42 + [x, y, x, y], np.array([300, 102, 368, 171]) * 0.42 + [x, y, x, y]]
    truth = np.array(truth)

    def found(det):
        boxes = np.stack([d.box for d in det(canvas)]) if det(canvas) else np.zeros((0, 4))
        return sum(len(boxes) and box_iou(t, boxes).max() > 0.3 for t in truth)

    whole = found(bf.BlazeFaceDetector(tile=0, threads=1))
    pyramid = found(bf.BlazeFaceDetector(threads=1))
    assert pyramid >= 11 and whole <= 2, (pyramid, whole)
    # steering: asking only for faces of 80 px and up is one run and finds none of these
    assert found(bf.BlazeFaceDetector(min_face_size=80, threads=1)) <= 2


def test_parts_of_a_big_face_are_not_small_faces():
    big = Detection([100, 100, 400, 400], 0.9)
    eye = Detection([150, 180, 200, 230], 0.7)          # inside the big face, a sixth of its size
    neighbour = Detection([410, 120, 470, 180], 0.8)    # small face next to it: kept
    crowd = [Detection([0, 0, 30, 30], 0.9), Detection([25, 0, 55, 30], 0.9)]  # same size, overlapping: kept
    out = bf.drop_nested([big, eye, neighbour, *crowd])
    assert [d.box.tolist() for d in out] == [big.box.tolist(), neighbour.box.tolist()] + [c.box.tolist() for c in crowd]


def test_proposals_add_low_scoring_detections_for_confirmation(pair2):
    plain = bf.BlazeFaceDetector(threads=1)
    more = bf.BlazeFaceDetector(threads=1, proposals=0.2)
    a, b = plain(pair2), more(pair2)
    assert plain.confirm is None and more.confirm == (0.5, bf.BlazeFaceDetector.CONFIRM_CONF)
    assert len(b) >= len(a) and min(d.score for d in b) >= 0.2
    strong = [d for d in b if d.score >= 0.5]  # the same faces (boxes move a little: weighted NMS
    assert len(strong) == len(a)                 # now also averages in the weaker boxes around them)
    for x, y in zip(strong, a):
        assert box_iou(x.box, y.box[None])[0] > 0.9
    with pytest.raises(UserError):
        bf.BlazeFaceDetector(proposals=0.7)


def test_min_face_size_steers_a_named_detector():
    from pipnet106.detect import as_detector

    assert as_detector("blazeface", min_face_size=40).min_face_size == 40
    assert as_detector(None).min_face_size == bf.MODELS["full"].min_face
    mine = lambda im: []  # noqa: E731
    assert as_detector(mine, min_face_size=40) is mine


def test_blank_and_tiny_images_give_no_faces(full):
    assert full(np.full((240, 320, 3), 127, np.uint8)) == []
    assert full(np.zeros((3, 5, 3), np.uint8)) == []


def test_opencv_engine_agrees_with_onnxruntime(pair2):
    pytest.importorskip("onnxruntime")
    a = get_detector("blazeface", engine="onnxruntime", threads=1)(pair2)
    b = get_detector("blazeface", engine="opencv")(pair2)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.box, y.box, atol=0.5)
        assert abs(x.score - y.score) < 1e-3


def test_bad_blazeface_options_are_user_errors():
    for kw in ({"model": "huge"}, {"score_threshold": 2.0}, {"tile": 10}, {"engine": "tpu"}, {"max_tiles": 0},
               {"min_face_size": 1}, {"min_face_size": float("nan")}):
        with pytest.raises(UserError):
            bf.BlazeFaceDetector(**kw)


# ------------------------------------------------------------------ other backends

def test_haar_finds_faces_or_says_why(pair2):
    if not hasattr(cv2, "CascadeClassifier"):
        with pytest.raises(UserError, match="OpenCV"):
            get_detector("haar")
        return
    dets = get_detector("haar", cascade="alt2")(pair2)
    assert len(dets) >= 2
    assert_inside(dets, pair2)


def test_mediapipe_backend_is_optional():
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        with pytest.raises(UserError, match="mediapipe"):
            get_detector("mediapipe")


# ------------------------------------------------------------------ registry and helpers

def test_registry_names_and_errors():
    with pytest.raises(UserError, match="unknown face detector 'nope'"):
        get_detector("nope")
    with pytest.raises(UserError, match="no option colour"):
        get_detector("blazeface", colour="red")
    assert {"blazeface", "blazeface-short", "blazeface-full", "haar", "boxes", "mediapipe"} <= set(
        detect_base.DETECTORS)
    assert get_detector("blazeface-short", threads=1).model == "short"


def test_user_detector_plugs_in(group4):
    def mine(image):  # returns raw rows; one sticks out of the image, one is outside entirely
        return [[10, 20, 110, 120, 0.9], np.array([-50, -50, 30, 30]), [5000, 5000, 5100, 5100]]

    register_detector("mine-test", lambda: mine)
    try:
        dets = run_detector(get_detector("mine-test"), group4)
    finally:
        detect_base.DETECTORS.pop("mine-test")
    assert len(dets) == 2 and [d.score for d in dets] == pytest.approx([1.0, 0.9])  # best first
    np.testing.assert_allclose(dets[0].box, [0, 0, 30, 30])  # clipped to the image
    with pytest.raises(UserError, match="expected Detection"):
        run_detector(lambda im: [[1, 2, 3]], group4)


def test_bad_images_are_user_errors(full):
    for bad in (np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32), "x.jpg", np.zeros((0, 5, 3), np.uint8)):
        with pytest.raises(UserError):
            full(bad)


def test_weighted_nms_merges_overlaps_only():
    a = Detection([0, 0, 10, 10], 0.9, np.zeros((6, 2)))
    b = Detection([2, 0, 12, 10], 0.3, np.full((6, 2), 4.0))
    c = Detection([50, 50, 60, 60], 0.5)
    out = nms([b, c, a], iou=0.3)
    assert len(out) == 2 and out[0].score == pytest.approx(0.9)
    np.testing.assert_allclose(out[0].box, [0.5, 0, 10.5, 10])  # 0.75 * a + 0.25 * b
    np.testing.assert_allclose(out[0].keypoints, 1.0)
    plain = nms([b, c, a], iou=0.3, weighted=False)
    np.testing.assert_allclose(plain[0].box, a.box)


# ------------------------------------------------------------------ boxes file

def write(tmp_path, obj, name="boxes.json"):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def test_boxes_file_roundtrip(tmp_path, pair2):
    p = write(tmp_path, {"sub/pair2.jpg": [[89, 35, 155, 101], [300, 102, 368, 171, 0.5]], "empty.png": []})
    boxes = load_boxes(p)
    assert len(boxes["sub/pair2.jpg"]) == 2 and boxes["empty.png"] == []
    det = get_detector("boxes", path=p)
    assert isinstance(det, BoxesDetector)
    for name in ("sub/pair2.jpg", "pair2.jpg", "other/dir/pair2.jpg", "pair2"):
        dets = run_detector(det, pair2, name=name)
        assert [d.score for d in dets] == [1.0, 0.5]
    assert run_detector(det, pair2, name="empty.png") == []
    with pytest.raises(SampleError, match="no boxes given"):
        det(pair2, name="unknown.jpg")
    with pytest.raises(UserError, match="image name"):
        det(pair2)


@pytest.mark.parametrize("content, message", [
    (None, "boxes file not found"),
    ("{not json", "not valid JSON"),
    ([[1, 2, 3, 4]], "expected a JSON object"),
    ({"a.jpg": [1, 2, 3, 4]}, "'a.jpg' box 0 must be"),
    ({"a.jpg": "oops"}, "must be a list of boxes"),
    ({"a.jpg": [[1, 2, 3]]}, "'a.jpg' box 0 must be"),
    ({"a.jpg": [[0, 0, 10, 10], [5, 5, 1, 9]]}, "'a.jpg' box 1 is empty or flipped"),
    ({"a.jpg": [[0, 0, "x", 10]]}, "non-numeric"),
    ('{"a.jpg": [[0, 0, NaN, 10]]}', "non-finite"),
])
def test_bad_boxes_files_give_one_line_errors(tmp_path, content, message):
    p = tmp_path / "missing.json" if content is None else write(tmp_path, content)
    with pytest.raises(UserError) as e:
        load_boxes(p)
    text = str(e.value)
    assert message in text and str(p) in text and "\n" not in text


def test_verified_photo_boxes_fixture_is_consistent():
    """The boxes the small-face benchmark scores against (photos stay in ../shared): counts as in docs/detection.md."""
    data = json.loads((FIX / "photo_faces.json").read_text())
    photos = data["photos"]
    assert len(photos) == 24 and "MIT" in data["about"]
    faces = [np.asarray(b, float) for v in photos.values() for b in v["faces"]]
    assert len(faces) == 705
    assert sum(np.sqrt((b[2] - b[0]) * (b[3] - b[1])) >= 24 for b in faces) == 367
    for name, v in photos.items():
        boxes = np.asarray(v["faces"], float).reshape(-1, 4)
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all(), name
        for i, b in enumerate(boxes if len(boxes) > 1 else []):  # no face listed twice
            assert box_iou(b, np.delete(boxes, i, 0)).max() < 0.5, (name, i)


def test_box_containment_sees_a_small_box_inside_a_big_one():
    """IoU of a 20-px box inside a 45-px one is about 0.2; containment (intersection over the smaller
    area) is 1, whichever box is given first; half inside is 0.5, apart is 0."""
    from pipnet106.detect import box_containment

    big, small = np.array([0.0, 0, 45, 45]), np.array([10.0, 10, 30, 30])
    assert box_iou(small, big[None])[0] < 0.25
    np.testing.assert_allclose(box_containment(small, big[None]), [1.0])
    np.testing.assert_allclose(box_containment(big, np.stack([small, [35.0, 0, 55, 20], [50.0, 50, 60, 60]])),
                               [1.0, 0.5, 0.0])


def test_duplicate_cases_match_their_crops_and_the_verified_faces():
    """photo_faces.json "duplicates": each crop file is the stated region, its true face is one of the
    photo's verified faces, and its two detections both overlap that face."""
    from pipnet106.detect import box_containment

    data = json.loads((FIX / "photo_faces.json").read_text())
    cases = data["duplicates"]["cases"]
    assert {c["photo"] for c in cases} >= {"26.jpg", "22.jpg", "17.jpg"}
    for c in cases:
        x0, y0, x1, y1 = c["crop"]
        assert read_image(FIX / c["file"]).shape[:2] == (y1 - y0, x1 - x0), c["file"]
        assert c["face"] in data["photos"][c["photo"]]["faces"], c["file"]
        dets = np.array(c["detections"], float)
        assert dets.shape == (2, 5) and (box_containment(np.array(c["face"], float), dets[:, :4]) > 0.4).all()
        assert c["file"] in (FIX / "LICENSE-photos.txt").read_text()


def test_default_min_face_grows_with_the_photo():
    """24 px up to 1.44 megapixels (every shared photo, the 1600x898 crowd included), then 2% of
    sqrt(width * height): the pyramid on a 12-megapixel photo then costs no more network runs than
    on the 1.44-megapixel crowd photo (a fixed 24 px: 8 times as many)."""
    assert bf.auto_min_face(1024, 768, 24) == 24 and bf.auto_min_face(1600, 898, 24) == 24
    assert bf.auto_min_face(4032, 3024, 24) == pytest.approx(0.02 * np.sqrt(4032 * 3024))  # 69.8 px
    assert bf.auto_min_face(3024, 4032, 24) == bf.auto_min_face(4032, 3024, 24)
    assert bf.auto_min_face(40000, 30000, 0) == 0  # a model without windows stays without
    det = bf.BlazeFaceDetector(threads=1)
    assert det.auto_min_face and det.min_face_for(4032, 3024) == bf.auto_min_face(4032, 3024, 24)
    assert det.runs(1024, 768) == 14 and det.runs(1600, 898) == bf.BlazeFaceDetector(min_face_size=24).runs(1600, 898)
    fixed = bf.BlazeFaceDetector(min_face_size=24, threads=1)
    assert not fixed.auto_min_face and fixed.min_face_for(4032, 3024) == 24
    assert det.runs(4032, 3024) <= det.runs(1600, 898) and 8 * det.runs(4032, 3024) <= fixed.runs(4032, 3024)
    # the finest level still makes the smallest face wanted FACE_INPUT_PX input pixels
    w, h = 4032, 3024
    scale = min(lv.scale for lv in det.plan(w, h)[:1]) / 2 ** 0
    assert scale * det.min_face_for(w, h) == pytest.approx(bf.FACE_INPUT_PX, rel=bf.FIT_SLACK + 1e-6)
    assert bf.BlazeFaceDetector(min_face_size="auto").auto_min_face
    for bad in ("big", -3, 2):
        with pytest.raises(UserError, match="min_face_size"):
            bf.BlazeFaceDetector(min_face_size=bad)


def test_a_large_photo_is_halved_before_its_pyramid(group4):
    """_halve is exact 2x2 means; a photo whose finest level shrinks it by 2 or more is searched on
    its halved copy with the same pyramid, and the boxes come back in the photo's pixels."""
    img = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3) * 2
    half = bf._halve(img, 1)
    assert half.shape == (3, 4, 3)
    np.testing.assert_array_equal(half[0, 0], img[:2, :2].reshape(-1, 3).mean(0).round())
    np.testing.assert_array_equal(half[2, 3], img[4, 6])  # the odd corner is its own mean
    det = bf.BlazeFaceDetector(threads=1)
    assert det.halvings(1024, 768) == 0 and det.halvings(1600, 898) == 0  # shared photos: as before
    assert det.halvings(4032, 3024) == 2
    big = cv2.resize(group4, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    halved = [d for d in det(big) if d.score >= 0.5]
    det.halvings = lambda w, h: 0
    direct = [d for d in det(big) if d.score >= 0.5]
    assert len(halved) == len(direct) == 4
    for d in halved:
        assert box_iou(d.box, np.array([e.box for e in direct])).max() > 0.9
