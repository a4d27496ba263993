"""Per-point visibility in retouch (issue 20, section 2): colour effects and warps fade over points the
model marks occluded (below VISIBLE_MIN); without visibility, or with no point below that line, the
retouch is byte-identical to before. Faces here carry a visibility set by hand."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from pipnet106.constants import VISIBLE_MIN
from pipnet106.retouch import PRESETS, Adjustments, retouch
from pipnet106.retouch.masks import VIS_INNER, VIS_RADIUS
from pipnet106.retouch.warp import face_field
from pipnet106.shape.frame import CONTOUR, LEFT_EYE, MOUTH_INNER, MOUTH_OUTER, face_frame

sys.path.insert(0, str(Path(__file__).parent))
from beauty_face import PUPILS, FaceStub, painted_face  # noqa: E402


@pytest.fixture(scope="module")
def face():
    img, pts, regions = painted_face(shape=(560, 400), top=140)
    return img, pts, regions, face_frame(pts)


def _near(points: np.ndarray, shape: tuple[int, ...], radius: float) -> np.ndarray:
    """Pixels whose centre is within `radius` px of any of `points`."""
    ys, xs = np.mgrid[:shape[0], :shape[1]] + 0.5
    d = np.min([np.hypot(xs - x, ys - y) for x, y in points], axis=0)
    return d < radius


def test_no_or_full_visibility_is_byte_identical(face):
    """visibility None, or every point visible: exactly the retouch without visibility (shape and colour)."""
    img, pts, _, _ = face
    conf = np.ones(106)
    adj = PRESETS["glam"].updated(lens=0.6, skin_tone=0.3)
    plain = retouch(img, [pts], adj)
    for vis in (None, np.ones(106), np.full(106, 0.99), np.full(106, VISIBLE_MIN)):
        assert np.array_equal(retouch(img, [FaceStub(pts, conf, visibility=vis)], adj), plain)


def test_lipstick_stops_at_occluded_lip_points(face):
    """The lower lip's points hidden (a finger over it): pixels within VIS_INNER face scales of them are
    byte-identical, pixels beyond VIS_RADIUS of every hidden point get exactly the lipstick they get
    without visibility, and the upper lip is still coloured."""
    img, pts, regions, fr = face
    lower = np.r_[MOUTH_OUTER[pts[MOUTH_OUTER, 1] > pts[MOUTH_OUTER, 1].mean() + 2],
                  MOUTH_INNER[pts[MOUTH_INNER, 1] > pts[MOUTH_INNER, 1].mean() + 2]]
    assert len(lower) >= 6
    vis = np.ones(106)
    vis[lower] = 0.0
    adj = Adjustments(lipstick=(200, 20, 60), lipstick_amount=1.0)
    plain = retouch(img, [pts], adj)
    out = retouch(img, [FaceStub(pts, np.ones(106), visibility=vis)], adj)
    hidden = _near(pts[lower], img.shape, 0.98 * VIS_INNER * fr.scale)
    assert (regions["lips"] & hidden).sum() > 200, "the test needs lip pixels next to the hidden points"
    assert np.array_equal(out[hidden], img[hidden])
    far = ~_near(pts[lower], img.shape, 1.02 * VIS_RADIUS * fr.scale)
    assert np.array_equal(out[far], plain[far])
    upper = regions["lips"] & far
    assert upper.sum() > 100 and np.any(out[upper] != img[upper], axis=1).mean() > 0.8


def test_lens_and_eye_makeup_skip_a_hidden_eye(face):
    """The left eye's points hidden (hair over it): its sclera, iris and pupil are untouched by lens,
    eyeliner and eye_brighten, alone and together; alone, each gives the right eye exactly what it
    gives without visibility (together the lens's lightness target, a mean over both eyes, differs)."""
    img, pts, regions, _ = face
    vis = np.ones(106)
    vis[np.r_[LEFT_EYE, PUPILS[0]]] = 0.0
    left = regions["left_eye"] | regions["left_iris"] | regions["left_pupil"]
    right = regions["right_eye"] | regions["right_iris"]
    for values in ({"lens": 1.0}, {"eyeliner": 1.0}, {"eye_brighten": 1.0},
                   {"lens": 1.0, "eyeliner": 1.0, "eye_brighten": 1.0}):
        adj = Adjustments(**values)
        plain = retouch(img, [pts], adj)
        out = retouch(img, [FaceStub(pts, np.ones(106), visibility=vis)], adj)
        assert np.array_equal(out[left], img[left]), values
        if len(values) == 1:
            assert np.array_equal(out[right], plain[right]), values
        assert np.any(out != img), values


def test_warp_fades_at_occluded_contour_points(face):
    """face_slim with the image-left cheek's contour points hidden (a hand on the cheek): the field at
    those points is under 10% of its size without visibility; on the other cheek (beyond VIS_WARP_RADIUS)
    it is unchanged; no
    fold-over (the shrunk field is checked again)."""
    img, pts, _, _ = face
    left = CONTOUR[3:12]
    vis = np.ones(106)
    vis[left] = 0.0
    adj = Adjustments(face_slim=1.0)
    plain = face_field(pts, adj, img.shape)
    faded = face_field(FaceStub(pts, np.ones(106), visibility=vis), adj, img.shape)
    d0, d1 = np.hypot(*plain.at(pts[left]).T), np.hypot(*faded.at(pts[left]).T)
    assert d0.min() > 1.0 and (d1 < 0.1 * d0).all(), (d0, d1)
    right = CONTOUR[21:30]
    assert np.abs(faded.at(pts[right]) - plain.at(pts[right])).max() < 1e-3
    assert faded.factor == plain.factor
    dx, dy = faded.upsampled()
    det = (1 + np.gradient(dx, axis=1)) * (1 + np.gradient(dy, axis=0)) - np.gradient(dx, axis=0) * np.gradient(dy, axis=1)
    assert det.min() > 0
    out = retouch(img, [FaceStub(pts, np.ones(106), visibility=vis)], adj)
    assert not np.array_equal(out, img)


def test_partial_visibility_gives_a_partial_edit(face):
    """Visibility VISIBLE_MIN / 2 on the lower lip's points: next to them the lipstick's change is about
    half; at VISIBLE_MIN and above (a probable, not a certain, visible point) nothing fades."""
    img, pts, regions, fr = face
    lower = MOUTH_OUTER[pts[MOUTH_OUTER, 1] > pts[MOUTH_OUTER, 1].mean() + 2]
    adj = Adjustments(lipstick=(200, 20, 60), lipstick_amount=1.0)
    plain = retouch(img, [pts], adj).astype(np.float64)
    vis = np.ones(106)
    vis[lower] = VISIBLE_MIN / 2
    out = retouch(img, [FaceStub(pts, np.ones(106), visibility=vis)], adj).astype(np.float64)
    near = regions["lips"] & _near(pts[lower], img.shape, 0.9 * VIS_INNER * fr.scale)
    full, half = np.abs(plain - img)[near].sum(), np.abs(out - img)[near].sum()
    assert 0.4 < half / full < 0.6, half / full
    vis[:] = 0.8                        # what a trained head gives points it sees: no fade at all
    vis[lower] = VISIBLE_MIN
    assert np.array_equal(retouch(img, [FaceStub(pts, np.ones(106), visibility=vis)], adj), plain.astype(np.uint8))


@pytest.fixture(scope="module")
def group(lm):
    """The shipped group photo and the starter's faces on it (found once for the module)."""
    from pipnet106.fileio import read_image

    image = read_image(Path(__file__).resolve().parents[1] / "fixtures" / "group4.jpg")
    return image, lm.predict(image)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_lipstick_stays_off_a_mask_the_starter_sees(seed, lm, group):
    """Closed loop with the shipped starter: a face mask pasted over one face of the group photo,
    the face re-detected, lipstick applied. The starter calls every lip point covered, and the
    lipstick's change on the mask's pixels falls to under 40% of what the same points give without
    visibility (measured 6-29%)."""
    from pipnet106.data.occluders import occlude

    image, faces = group
    occ, visible, _ = occlude(image.copy(), faces[seed].points, np.random.default_rng(seed), ("mask",))
    lips = np.r_[MOUTH_OUTER, MOUTH_INNER]
    assert not visible[lips].any()                            # premise: the mask covers the lips
    seen = lm.predict(occ, boxes=[faces[seed].box])[0]
    assert (seen.visibility[lips] < VISIBLE_MIN).all()
    on_mask = np.abs(occ.astype(int) - image).sum(axis=2) > 0
    adj = Adjustments(lipstick=(200, 20, 60), lipstick_amount=1.0)
    faded = np.abs(retouch(occ, [seen], adj).astype(int) - occ).sum(axis=2)[on_mask].sum()
    plain = np.abs(retouch(occ, [seen.points], adj).astype(int) - occ).sum(axis=2)[on_mask].sum()
    assert plain > 0 and faded < 0.4 * plain, (faded, plain)
