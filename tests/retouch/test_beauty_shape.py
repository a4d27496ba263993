"""The shape effects of issue 20 (v_face, cheekbone, forehead, eye_tilt): apply, re-detect with the
starter model, measure the documented direction (as tests/retouch/test_retoucher.py does for the
first ten); the forehead, which has no landmark at the hairline, on a painted face's hairline."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipnet106.infer.landmarker import Landmarker
from pipnet106.retouch import Adjustments, retouch
from pipnet106.retouch.warp import face_field
from pipnet106.shape.frame import (LEFT_BROW, LEFT_INNER, LEFT_OUTER, RIGHT_BROW, RIGHT_INNER, RIGHT_OUTER,
                                   face_frame)
from pipnet106.shape.primitives import SIZES

sys.path.insert(0, str(Path(__file__).parent))
from beauty_face import HAIR, painted_face  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def photos(lm):
    """Both shipped photos, their faces, and a landmarker that re-reads the same boxes."""
    out = []
    for name in ("group4.jpg", "pair2.jpg"):
        img = cv2.imread(str(FIXTURES / name))
        boxes = [[*f.box, 1.0] for f in lm.predict(img)]
        fixed = Landmarker(lm.backend, detector=None)
        out.append((img, fixed.predict(img, boxes=boxes), fixed, boxes))
    return out


def _measure(name: str, points: np.ndarray, frame) -> float:
    """What each change claims to increase, on landmarks, in face scales."""
    L = frame.local(points)
    width = lambda idx: float(np.mean([L[32 - i, 0] - L[i, 0] for i in idx]))
    return {
        "v_face": -width((6, 8, 10)),                # jaw corners in = a narrower lower jaw
        "cheekbone": width((2, 3, 4)),               # the contour at cheekbone height
        "eye_tilt": float(np.mean([L[LEFT_INNER, 1] - L[LEFT_OUTER, 1], L[RIGHT_INNER, 1] - L[RIGHT_OUTER, 1]])),
        "brows": float(L[np.r_[LEFT_BROW, RIGHT_BROW], 1].mean()),
    }[name] / frame.scale


# the smallest mean change (face scales) at +-0.8 over the 6 faces; eye_tilt's is small because the
# starter's eye outline follows an edit of the eye only in part (see test_eye_size_grows_each_eye):
# measured +0.0023 / -0.0022, v_face +0.035 / -0.040, cheekbone +0.032 / -0.016
LIMITS = {"v_face": 0.01, "cheekbone": 0.005, "eye_tilt": 0.001}


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_sign_matches_docs_on_real_faces(photos, name):
    """+0.8 / -0.8, re-detected: positive does what PARAMS says (v_face: narrower jaw; cheekbone: wider
    cheekbones; eye_tilt: outer corners higher than the inner ones), negative the opposite."""
    change = {0.8: [], -0.8: []}
    for img, faces, fixed, boxes in photos:
        frames = [face_frame(f) for f in faces]
        m0 = [_measure(name, f.points, fr) for f, fr in zip(faces, frames)]
        for value in change:
            got = fixed.predict(retouch(img, faces, **{name: value}), boxes=boxes)
            change[value] += [_measure(name, g.points, fr) - m for g, fr, m in zip(got, frames, m0)]
    up, down = float(np.mean(change[0.8])), float(np.mean(change[-0.8]))
    assert up > LIMITS[name] and down < -LIMITS[name], (up, down)


def test_eye_tilt_moves_outer_corners_only(photos):
    """Through the field exactly (`forward_points`): at eye_tilt 1 each outer corner moves up by 0.6-1 x
    tilt_move face scales (the content at a move's centre moves by the full vector; a corner the
    move has carried up sits where the falloff is below 1: ~0.8 measured), each inner corner by less
    than a fifth of tilt_move."""
    _, faces, _, _ = photos[0]
    for f in faces:
        fr = face_frame(f)
        fld = face_field(f.points, Adjustments(eye_tilt=1.0), (2000, 2000, 3))
        idx = [LEFT_OUTER, RIGHT_OUTER, LEFT_INNER, RIGHT_INNER]
        up = -((fld.forward_points(f.points[idx]) - f.points[idx]) @ fr.v) / (SIZES.tilt_move * fr.scale)
        assert ((up[:2] > 0.6) & (up[:2] <= 1.0)).all() and (np.abs(up[2:]) < 0.2).all(), up


def _hairline_row(img: np.ndarray, x: int) -> int:
    """The first row from the top, in column x, below the hair: where the painted hair ends."""
    col = img[:, x].astype(np.int32)
    hair = np.abs(col - np.array(HAIR[::-1])).sum(1) < 40
    rows = np.nonzero(hair)[0]
    return int(rows.max()) + 1


def test_forehead_moves_the_hairline_not_the_brows(photos):
    """forehead +-0.8 on a painted face: the hairline (the top of the painted forehead, on the face's
    axis) moves up / down by >= half of 0.8 x forehead_move face scales; on the shipped photos the
    re-detected brows move by less than 0.01 face scales (the change stops above them)."""
    img, pts, _ = painted_face(shape=(560, 400), top=140)
    fr = face_frame(pts)
    x = round(float(pts[:, 0].mean()))
    row0 = _hairline_row(img, x)
    for value, sign in ((0.8, -1), (-0.8, 1)):
        moved = (_hairline_row(retouch(img, [pts], forehead=value), x) - row0) / fr.scale
        assert sign * moved > 0.5 * 0.8 * SIZES.forehead_move, (value, moved)
    for img, faces, fixed, boxes in photos:
        frames = [face_frame(f) for f in faces]
        got = fixed.predict(retouch(img, faces, forehead=0.8), boxes=boxes)
        for g, f, fr in zip(got, faces, frames):
            assert abs(_measure("brows", g.points, fr) - _measure("brows", f.points, fr)) < 0.01
