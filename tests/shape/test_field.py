"""The shape field maps points exactly: a dot drawn at a point lands, after the warp, where
`FaceField.forward_points` says; and every named change moves what its sign rule says."""
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from pipnet106.face3d import template
from pipnet106.shape.field import Primitive, apply_field, field_from_primitives
from pipnet106.shape.frame import LEFT_EYE, MOUTH_INNER, face_frame
from pipnet106.shape.primitives import SHAPE_CHANGES, shape_primitives

SIZE = 256


def _face() -> np.ndarray:
    t = template()
    return (t - t.min(0)) / np.ptp(t, 0).max() * 160 + 48


@pytest.mark.parametrize("values", [dict(eye_size=1.0), dict(eye_size=-1.0), dict(eye_height=-1.0, eye_asymmetry=0.5),
                                    dict(mouth_open=1.0), dict(mouth_open=-0.5), dict(face_slim=1.0, jaw_width=-1.0),
                                    dict(lip_fullness=1.0, mouth_width=1.0, brow_lift=1.0, chin_length=1.0)])
def test_points_move_with_the_pixels(values):
    pts = _face()
    frame = face_frame(pts, weight=1.0)
    fld = field_from_primitives(shape_primitives(pts, frame, SimpleNamespace(**values)), frame, (SIZE, SIZE))
    assert fld is not None
    moved = fld.forward_points(pts)
    np.testing.assert_allclose(moved + fld.at(moved), pts, atol=1e-5)     # the backward map's exact inverse
    # the warped photo shows, at each moved point, the source pixel at the label: warp an image whose
    # pixels hold their own coordinates (bilinear keeps a ramp exact) and read it at the moved points
    ys, xs = np.mgrid[:SIZE, :SIZE].astype(np.float32) + 0.5
    ramp = apply_field(np.dstack([xs, ys]), fld)
    q = (moved - 0.5).astype(np.float32)
    seen = cv2.remap(ramp, q[:, :1].copy(), q[:, 1:].copy(), cv2.INTER_LINEAR).reshape(-1, 2)
    assert np.abs(seen - pts).max() < 0.05       # remap's maps are fixed point (1/32 px)
    assert np.abs(moved - pts).max() > 1.0


def test_signs_follow_the_names():
    pts = _face()
    frame = face_frame(pts, weight=1.0)

    def moved(**values):
        fld = field_from_primitives(shape_primitives(pts, frame, SimpleNamespace(**values)), frame, (SIZE, SIZE))
        return fld.forward_points(pts)

    def eye_height(p):
        return np.ptp(p[LEFT_EYE, 1])

    assert eye_height(moved(eye_height=1.0)) > 1.15 * eye_height(pts)
    assert eye_height(moved(eye_height=-1.0)) < 0.85 * eye_height(pts)
    assert np.ptp(moved(mouth_open=1.0)[MOUTH_INNER, 1]) > np.ptp(pts[MOUTH_INNER, 1]) + 2
    # the asymmetry changes one eye more than the other
    p = moved(eye_size=1.0, eye_asymmetry=0.5)
    left, right = np.ptp(p[66:74, 0]) / np.ptp(pts[66:74, 0]), np.ptp(p[75:83, 0]) / np.ptp(pts[75:83, 0])
    assert right > left > 1.0
    assert set(SHAPE_CHANGES) >= {"eye_height", "mouth_open"}


def test_lens_magnifies_with_its_own_profile():
    pts = _face()
    frame = face_frame(pts, weight=1.0)
    c = frame.local(pts[74:75])[0]
    fld = field_from_primitives([Primitive("lens", (float(c[0]), float(c[1])), (40.0, 40.0), (0.8, 0.0))], frame,
                                (SIZE, SIZE))
    p = fld.forward_points(pts)
    assert np.ptp(p[66:74, 0]) > 1.05 * np.ptp(pts[66:74, 0])          # the eye is larger
    np.testing.assert_allclose(p[84:104], pts[84:104], atol=1e-6)       # the mouth is outside its reach
