"""Face.pose / Face.reliable in the API and JSON, drawing in proportion to the face, person-view names."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipnet106.cli import main
from pipnet106.draw import FaceStyle, draw_faces
from pipnet106.errors import UserError
from pipnet106.layout import LAPA106, get_layout
from pipnet106.infer.landmarker import Face, region_map, view_name
from pipnet106.synth.faces import render_face

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def synth_face(yaw=0.0, conf=0.7, scale=120.0, size=256) -> tuple[np.ndarray, Face]:
    img, pts = render_face(np.random.default_rng(5), size, size, yaw=yaw, pitch=0, roll=0, scale=scale,
                           centre=(size / 2, size / 2))
    lo, hi = pts.min(0), pts.max(0)
    return img, Face(np.r_[lo, hi], 0.9, pts, np.full(106, conf), LAPA106)


def test_pose_and_reliable_travel_in_json():
    _, f = synth_face(yaw=20)
    d = f.to_dict()
    assert d["pose"]["yaw"] == pytest.approx(20, abs=3) and d["reliable"] is True
    assert "unreliable_because" not in d
    _, side = synth_face(yaw=70, conf=0.3)
    d = side.to_dict()
    assert d["reliable"] is False and d["pose"]["yaw"] > 45
    assert any("yaw" in r for r in d["unreliable_because"]) and any("confidence" in r for r in d["unreliable_because"])
    json.dumps(d)  # plain types only
    other = Face(np.zeros(4), 1.0, np.random.rand(68, 2) * 50, np.ones(68), get_layout("ibug68"))
    assert other.pose is None and other.to_dict()["pose"] is None


def test_person_view_swaps_left_and_right():
    _, f = synth_face()
    assert view_name("left_eye", "person") == "right_eye" and view_name("mouth_outer", "person") == "mouth_outer"
    np.testing.assert_array_equal(f.region("left_eye", view="person"), f.region("right_eye"))
    # the subject's left eye is on the image's right
    assert f.region("left_eye", view="person")[:, 0].mean() > f.region("right_eye", view="person")[:, 0].mean()
    m = region_map(LAPA106, "person")
    assert m["left_eye"] == list(LAPA106.regions["right_eye"])
    with pytest.raises(UserError):
        view_name("left_eye", "mirror")


def test_drawing_scales_with_the_face():
    assert FaceStyle.for_size(25).radius == 0 and FaceStyle.for_size(25).line == 1
    assert FaceStyle.for_size(400).radius == pytest.approx(4.0) and FaceStyle.for_size(400).line >= 2
    # a 25-px face: the drawing stays on the face (nothing smeared over the picture) and shows its shapes
    for scale, max_spill in ((30.0, 3), (200.0, 12)):
        img, f = synth_face(scale=scale, size=400)
        out = draw_faces(img, [f])
        changed = np.abs(out.astype(int) - img.astype(int)).sum(-1) > 30
        ys, xs = np.nonzero(changed)
        lo, hi = f.points.min(0), f.points.max(0)
        label = 14 if scale < 100 else 40  # the score is written above the box
        inside = (xs >= lo[0] - max_spill) & (xs <= max(hi[0], lo[0] + 3 * label) + max_spill) \
            & (ys >= lo[1] - max_spill - label) & (ys <= hi[1] + max_spill)
        assert inside.mean() > 0.9
        a, b = lo.astype(int), hi.astype(int)
        painted = changed[a[1]:b[1], a[0]:b[0]].mean()
        assert 0.1 < painted < 0.7, painted  # the shapes are drawn, but the face is not painted over


def test_unreliable_faces_get_another_box_colour():
    img, f = synth_face(yaw=70, conf=0.3)
    out = draw_faces(img, [f])
    x0, y0 = int(f.box[0]), int(f.box[1])
    px = out[y0 - 1:y0 + 2, x0 + 10].reshape(-1, 3)
    assert any(abs(int(p[0]) - 0) < 60 and abs(int(p[1]) - 140) < 60 and p[2] > 200 for p in px)


def test_cli_person_view_writes_the_regions_table(tmp_path):
    out = tmp_path / "o"
    assert main(["predict", str(FIXTURES / "pair2.jpg"), "--out", str(out), "--person-view"]) == 0
    rec = json.loads((out / "pair2.json").read_text())
    assert rec["view"] == "person" and rec["regions"]["left_eye"] == list(range(75, 84))
    for face in rec["faces"]:
        assert set(face["pose"]) == {"yaw", "pitch", "roll"} and isinstance(face["reliable"], bool)
    assert main(["predict", str(FIXTURES / "pair2.jpg"), "--out", str(tmp_path / "p")]) == 0
    assert "regions" not in json.loads((tmp_path / "p" / "pair2.json").read_text())


def test_low_scoring_detections_are_kept_only_with_confident_landmarks():
    """Proposals (detector score below `confirm[0]`) stay only when their landmarks are confident."""
    from pipnet106 import Landmarker
    from pipnet106.crop import points_box

    img, pts = render_face(np.random.default_rng(4), 320, 320, yaw=0, pitch=0, roll=0, scale=140, centre=(200, 190))
    face_box = points_box(pts)

    class Proposals:  # a detector that is unsure about both of its boxes
        confirm = (0.5, 0.45)

        def __call__(self, image):
            return [[*face_box, 0.3], [5, 5, 70, 70, 0.3]]  # the face, and plain background in a corner

    base = Landmarker.default(threads=1)
    lm = Landmarker(base.backend, detector=Proposals())
    faces = lm.predict(img)
    assert len(faces) == 1 and abs(faces[0].box[0] - face_box[0]) < 1
    assert lm.confirmed([0.9, 0.3, 0.3], np.array([[0.2] * 3, [0.6] * 3, [0.3] * 3])).tolist() == [True, True, False]
    # given boxes are the user's: never dropped
    assert len(lm.predict(img, boxes=[[5, 5, 70, 70, 0.3]])) == 1
    # the package's default detector proposes down to 0.2 and asks for confirmation
    assert base.detector.confirm == (base.detector.score_threshold, 0.45) and base.detector.min_score == 0.2


def test_face_reports_eye_and_mouth_openness():
    """`Face.eye_openness` / `mouth_openness` and their JSON keys come from the points (`measures`)."""
    from pipnet106.layout import LAPA106
    from pipnet106.measures import eye_openness, mouth_openness
    from pipnet106.synth.faces import render_face

    pts = render_face(np.random.default_rng(3), 256, 256)[1].astype(np.float64)
    face = Face(np.array([0.0, 0, 256, 256]), 1.0, pts, np.ones(106), LAPA106)
    d = face.to_dict()
    assert face.eye_openness == eye_openness(pts) and face.mouth_openness == mouth_openness(pts)
    assert d["eye_openness"] == [round(v, 3) for v in eye_openness(pts)]
    assert d["mouth_openness"] == round(mouth_openness(pts), 3)
