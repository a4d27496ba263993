"""Eye and mouth openness: scale-free, exact on constructed faces, None where a layout lacks the points."""
import numpy as np
import pytest

from pipnet106.layout import LAPA106, get_layout
from pipnet106.measures import MEASURES, eye_openness, mouth_openness
from pipnet106.synth.faces import render_face

LM = LAPA106.landmarks
UPPER = [67, 68, 69, 76, 77, 78]      # upper lids, image-view left then right
LOWER = [73, 72, 71, 82, 81, 80]      # the lower-lid points below them


def _face(seed: int = 0) -> np.ndarray:
    return render_face(np.random.default_rng(seed), 256, 256)[1].astype(np.float64)


def _set_eye(p: np.ndarray, side: str, openness: float) -> np.ndarray:
    """Put the lid middles of one eye at a known openness: symmetric about the corners' midpoint."""
    q = p.copy()
    out, inn = q[LM[f"{side}_eye_outer"]], q[LM[f"{side}_eye_inner"]]
    mid, w = (out + inn) / 2, np.hypot(*(out - inn))
    n = np.array([-(inn - out)[1], (inn - out)[0]]) / w
    q[LM[f"{side}_upper_lid"]] = mid - n * openness * w / 2
    q[LM[f"{side}_lower_lid"]] = mid + n * openness * w / 2
    return q


def test_eye_openness_is_exact_and_per_eye():
    p = _set_eye(_set_eye(_face(), "left", 0.31), "right", 0.05)      # a wink on the image's right
    left, right = eye_openness(p)
    assert left == pytest.approx(0.31, abs=1e-9) and right == pytest.approx(0.05, abs=1e-9)


def test_closed_lips_and_eyes_read_zero():
    p = _face()
    p[UPPER] = p[LOWER]
    p[LM["inner_lip_top"]] = p[LM["inner_lip_bottom"]]
    assert eye_openness(p) == (0.0, 0.0) and mouth_openness(p) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_openness_does_not_change_with_size_rotation_or_position(seed):
    p = _face(seed)
    a = np.deg2rad(23.0)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    q = 3.7 * p @ rot.T + np.array([410.0, -55.0])
    assert np.allclose(eye_openness(q), eye_openness(p), atol=1e-9)
    assert mouth_openness(q) == pytest.approx(mouth_openness(p), abs=1e-9)
    assert 0.05 < min(eye_openness(p)) and max(eye_openness(p)) < 0.6       # an open synthetic eye


def test_mouth_openness_grows_with_the_inner_gap():
    p = _face()
    w = np.hypot(*(p[LM["mouth_right"]] - p[LM["mouth_left"]]))
    q = p.copy()
    q[LM["inner_lip_bottom"]] = q[LM["inner_lip_top"]] + np.array([0.0, 0.4 * w])
    assert mouth_openness(q) == pytest.approx(0.4, abs=1e-9)


def test_layouts_without_named_lids_get_none():
    lay = get_layout("wflw98")
    pts = np.zeros((lay.num_points, 2))
    assert eye_openness(pts, lay) is None and mouth_openness(pts, lay) is None


def test_pixel_measures_scale_with_the_face():
    p = _face()
    for name, f in MEASURES.items():
        k = 4.0 if name == "eye_area" else 2.0                              # areas scale with the square
        assert f(2.0 * p) == pytest.approx(k * f(p), rel=1e-9), name
