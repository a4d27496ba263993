"""Retouching: identity, fold-over, closed loop with our own landmarks, exact background, masks, makeup."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipnet106.errors import UserError
from pipnet106.infer.landmarker import Landmarker
from pipnet106.retouch import PARAMS, PRESETS, SHAPE_PARAMS, Adjustments, Retoucher, retouch, retouch_report
from pipnet106.shape.field import apply_field
from pipnet106.retouch.warp import face_field
from pipnet106.shape.frame import face_frame
from pipnet106.retouch.masks import face_mask
from pipnet106.shape.frame import (CHIN, LEFT_BROW, LEFT_EYE, MOUTH_INNER, MOUTH_LEFT, MOUTH_OUTER, MOUTH_RIGHT,
                                     NOSE_LOWER, RIGHT_BROW, RIGHT_EYE)
from pipnet106.retouch.makeup import _apply_gain, _blend, cheek_centres
from pipnet106.shape.field import BAND_PX

sys.path.insert(0, str(Path(__file__).parent))
from beauty_face import FaceStub  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GROUP = FIXTURES / "group4.jpg"
PAIR = FIXTURES / "pair2.jpg"


def _photo(lm, path):
    """A shipped photo, its faces, and a landmarker that re-reads the same boxes (no detector noise)."""
    img = cv2.imread(str(path))
    boxes = [[*f.box, 1.0] for f in lm.predict(img)]
    fixed = Landmarker(lm.backend, detector=None)
    return img, fixed.predict(img, boxes=boxes), fixed, boxes


@pytest.fixture(scope="module")
def group(lm):
    return _photo(lm, GROUP)


@pytest.fixture(scope="module")
def pair(lm):
    return _photo(lm, PAIR)


def _poly_area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _jaw_widths(points: np.ndarray, frame) -> np.ndarray:
    L = frame.local(points)
    return np.array([L[32 - i, 0] - L[i, 0] for i in (6, 8, 10, 12)])


def _measure(name: str, points: np.ndarray, frame) -> float:
    """The quantity each adjustment claims to increase (in face scales), measured on landmarks."""
    L = frame.local(points)
    le, re = L[LEFT_EYE].mean(0), L[RIGHT_EYE].mean(0)
    return {
        "face_slim": -float(_jaw_widths(points, frame).mean()),
        "jaw_width": float(np.mean([L[32 - i, 0] - L[i, 0] for i in (8, 10, 12)])),
        "chin_length": float(L[CHIN, 1] - L[MOUTH_OUTER, 1].max()),
        "eye_distance": float(re[0] - le[0]),
        "nose_length": float(L[NOSE_LOWER, 1].max()),
        "lip_fullness": float(np.ptp(L[MOUTH_OUTER, 1])),
        "mouth_width": float(L[MOUTH_RIGHT, 0] - L[MOUTH_LEFT, 0]),
        "brow_lift": -float(np.r_[L[LEFT_BROW, 1], L[RIGHT_BROW, 1]].mean() - (le[1] + re[1]) / 2),
    }[name] / frame.scale


# ---------------------------------------------------------------- identity, ranges, API

def test_zero_is_byte_identical_and_input_untouched(group):
    img, faces, _, _ = group
    before = img.copy()
    for adj in (Adjustments(), Adjustments(**{k: 0.0 for k in SHAPE_PARAMS}), PRESETS["glam"].scaled(0.0)):
        out = retouch(img, faces, adj)
        assert out is not img and np.array_equal(out, img)
    out = retouch(img, faces, PRESETS["glam"])
    assert not np.array_equal(out, img)
    assert np.array_equal(img, before), "the input image must never be modified"


def test_values_are_checked_and_presets_scale():
    with pytest.raises(UserError, match="eye_size"):
        Adjustments(eye_size=1.5)
    with pytest.raises(UserError, match="smooth_skin"):
        Adjustments(smooth_skin=-0.1)
    with pytest.raises(UserError, match="unknown adjustment"):
        Adjustments().updated(cheek_puff=0.2)
    with pytest.raises(UserError, match=r"unknown adjustment\(s\) lenz \(lenz: did you mean lens\?\)"):
        Adjustments().updated(lenz=0.5)            # a typo gets the close name, as the CLI's flags do
    with pytest.raises(UserError, match="unknown preset"):
        Retoucher.resolve("nope")
    half = Retoucher.resolve("strong", 0.5)
    assert half.face_slim == pytest.approx(PRESETS["strong"].face_slim / 2)
    assert Retoucher.resolve("strong", 2.0).face_slim == 1.0          # clipped to the range
    assert set(SHAPE_PARAMS) >= {"face_slim", "jaw_width", "chin_length", "eye_size", "eye_distance",
                                 "nose_width", "nose_length", "lip_fullness", "mouth_width", "brow_lift"}
    assert all(PARAMS[k][1] for k in SHAPE_PARAMS), "every adjustment documents its sign"


def test_retoucher_api_matches_function(lm, group):
    img, faces, _, _ = group
    r = Retoucher(lm)
    res = r.run(img, face_slim=0.3, eye_size=0.2)
    out = res.image
    assert out.shape == img.shape and not np.array_equal(out, img)
    assert np.array_equal(out, r.apply(img, face_slim=0.3, eye_size=0.2))
    assert len(res.report) == 4 and all(rep.warp_roi for rep in res.report)
    again = retouch(img, res.faces, face_slim=0.3, eye_size=0.2)
    assert np.array_equal(out, again)


# ---------------------------------------------------------------- field: fold-over, scale, rotation

def _full_det(field) -> float:
    dx, dy = field.upsampled()
    gxx, gxy = np.gradient(dx, axis=1), np.gradient(dx, axis=0)
    gyx, gyy = np.gradient(dy, axis=1), np.gradient(dy, axis=0)
    return float(((1 + gxx) * (1 + gyy) - gxy * gyx).min())


def test_no_fold_over_for_any_values(group):
    """det(I + grad d) > 0 at full resolution for extreme and random value combinations."""
    img, faces, _, _ = group
    rng = np.random.default_rng(0)
    combos = [dict.fromkeys(SHAPE_PARAMS, 1.0), dict.fromkeys(SHAPE_PARAMS, -1.0)]
    combos += [dict(zip(SHAPE_PARAMS, rng.choice([-1.0, 1.0], len(SHAPE_PARAMS)))) for _ in range(8)]
    combos += [dict(zip(SHAPE_PARAMS, rng.uniform(-1, 1, len(SHAPE_PARAMS)))) for _ in range(4)]
    combos += [{k: s} for k in SHAPE_PARAMS for s in (-1.0, 1.0)]
    # a small, a large and a rotated face
    f = faces[0].points
    c = f.mean(0)
    rot = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), 35.0, 1.0)
    shapes = [(f, img.shape), ((f - c) * 4 + 2 * c, (img.shape[0] * 4, img.shape[1] * 4, 3)),
              (f @ rot[:, :2].T + rot[:, 2], img.shape)]
    for pts, shape in shapes:
        for values in combos:
            fld = face_field(pts, Adjustments(**values), shape)
            assert fld is not None
            assert _full_det(fld) > 0, values


def test_same_value_same_edit_at_any_size(group):
    """Points scaled by 5 give a field 5x larger at the matching places (sizes follow the face)."""
    img, faces, _, _ = group
    p = faces[1].points
    adj = Adjustments(face_slim=0.6, eye_size=0.5, chin_length=0.4)
    small = face_field(p, adj, img.shape)
    big = face_field(p * 5, adj, (img.shape[0] * 5, img.shape[1] * 5, 3))
    probe = np.concatenate([p[[4, 8, 12, 20, 24, 28, 16]], p[LEFT_EYE], p[RIGHT_EYE]])
    ds, db = small.at(probe), big.at(probe * 5)
    scale = face_frame(p).scale
    assert np.abs(db / 5 - ds).max() < 0.03 * scale
    assert np.abs(ds).max() > 0.02 * scale


def test_rotated_face_gets_the_rotated_edit(group):
    img, faces, _, _ = group
    p = faces[1].points
    c = p.mean(0)
    R = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), 40.0, 1.0)
    pr = p @ R[:, :2].T + R[:, 2]
    adj = Adjustments(face_slim=0.8, eye_distance=0.5, brow_lift=0.5)
    a = face_field(p, adj, (800, 1200, 3))
    b = face_field(pr, adj, (800, 1200, 3))
    probe = np.concatenate([p[[6, 10, 22, 26]], p[LEFT_BROW], p[RIGHT_EYE]])
    da = a.at(probe)
    db = b.at(probe @ R[:, :2].T + R[:, 2])
    assert np.abs(da @ R[:, :2].T - db).max() < 0.02 * face_frame(p).scale


# ---------------------------------------------------------------- closed loop with our own landmarks

def test_face_slim_closed_loop(group):
    """+0.5 narrows the jaw at several heights while the eye corners stay; -0.5 widens it."""
    img, faces, fixed, boxes = group
    frames = [face_frame(f) for f in faces]
    w0 = np.array([_jaw_widths(f.points, fr) for f, fr in zip(faces, frames)])
    for value, sign in ((0.5, -1), (-0.5, 1)):
        got = fixed.predict(retouch(img, faces, face_slim=value), boxes=boxes)
        w = np.array([_jaw_widths(g.points, fr) for g, fr in zip(got, frames)])
        change = (w - w0) / np.array([fr.scale for fr in frames])[:, None]
        assert (np.sign(change.mean(0)) == sign).all(), f"jaw width at each height, value {value}: {change.mean(0)}"
        assert (np.sign(change.mean(1)) == sign).all(), f"jaw width of each face, value {value}: {change.mean(1)}"
        for g, f, fr in zip(got, faces, frames):
            corners = [66, 70, 75, 79]
            assert np.abs(g.points[corners] - f.points[corners]).max() < 0.04 * fr.scale


@pytest.mark.parametrize("name", ["face_slim", "jaw_width", "chin_length", "eye_distance", "nose_length",
                                  "lip_fullness", "mouth_width", "brow_lift"])
def test_sign_matches_docs_on_real_faces(group, pair, name):
    """Apply +0.8 / -0.8, re-run the landmarker, measure: positive does what PARAMS says, negative the opposite
    (mean over the 6 faces of both shipped photos, in face scales)."""
    change = {0.8: [], -0.8: []}
    for img, faces, fixed, boxes in (group, pair):
        frames = [face_frame(f) for f in faces]
        m0 = [_measure(name, f.points, fr) for f, fr in zip(faces, frames)]
        for value in change:
            got = fixed.predict(retouch(img, faces, **{name: value}), boxes=boxes)
            change[value] += [_measure(name, g.points, fr) - m for g, fr, m in zip(got, frames, m0)]
    up, down = float(np.mean(change[0.8])), float(np.mean(change[-0.8]))
    assert up > 0.002 and down < -0.002, (up, down)


def _registered_area_ratio(a: np.ndarray, b: np.ndarray, centre: np.ndarray, half: float) -> float:
    """Area ratio of the affine map that registers b's patch onto a's (ECC): > 1 = b's content is larger.

    Median over three patch sizes: on a small, weakly textured eye patch one ECC fit can hinge on
    the patch's whole-pixel bounds (a 0.01 px landmark change once moved one eye's ratio by 10%)."""
    ratios = []
    for h in (0.9 * half, half, 1.1 * half):
        x0, y0 = int(centre[0] - h), int(centre[1] - h)
        x1, y1 = int(centre[0] + h), int(centre[1] + h)
        t = cv2.cvtColor(a[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32)
        i = cv2.cvtColor(b[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32)
        crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-6)
        _, W = cv2.findTransformECC(t, i, np.eye(2, 3, dtype=np.float32), cv2.MOTION_AFFINE, crit, None, 3)
        ratios.append(float(np.linalg.det(W[:, :2])))
    return float(np.median(ratios))


def test_eye_size_grows_each_eye(group):
    """Eye size, measured without landmarks: each eye patch registered before/after (the face model
    alone follows a fifth of an eye's change; the part models' re-detection is the next test)."""
    img, faces, fixed, boxes = group
    ratios = {}
    for value in (-0.8, -0.4, 0.4, 0.8):
        out = retouch(img, faces, eye_size=value)
        ratios[value] = np.array([_registered_area_ratio(img, out, f.points[ring].mean(0), 0.22 * face_frame(f).scale)
                                  for f in faces for ring in (LEFT_EYE, RIGHT_EYE)])
    assert (ratios[0.8] > 1.05).all() and (ratios[-0.8] < 0.95).all()
    assert (ratios[0.8] > ratios[0.4]).all() and (ratios[-0.8] < ratios[-0.4]).all()
    assert ratios[0.4].mean() > 1.02 and ratios[-0.4].mean() < 0.98


def test_eye_size_by_the_redetected_points(group):
    """Apply, re-detect with the shipped part models (`--parts starter`), measure: every eye's outline
    area grows and shrinks with `eye_size`, in order (today +0.8 -> x1.20..1.34, -0.8 -> x0.71..0.78;
    the face model alone moves it about 1%)."""
    from pipnet106.infer.backends import load_parts

    img, faces, fixed, boxes = group
    fine = Landmarker(fixed.backend, detector=None, parts=load_parts(["starter"]))
    rings = (LEFT_EYE, RIGHT_EYE)
    before = np.array([[_poly_area(f.points[r]) for r in rings] for f in fine.predict(img, boxes=boxes)])
    values = (-0.8, -0.4, 0.4, 0.8)
    area = np.stack([np.array([[_poly_area(g.points[r]) for r in rings]
                               for g in fine.predict(retouch(img, faces, eye_size=v), boxes=boxes)]) / before
                     for v in values])
    assert (area[-1] > 1.08).all() and (area[0] < 0.93).all(), area
    assert (np.diff(area, axis=0) > 0).all(), f"each eye's area in the order of eye_size {values}: {area}"


def test_nose_width_by_registration(group):
    img, faces, _, _ = group
    for value, sign in ((0.8, 1), (-0.8, -1)):
        out = retouch(img, faces, nose_width=value)
        r = np.array([_registered_area_ratio(img, out, f.points[NOSE_LOWER].mean(0), 0.3 * face_frame(f).scale)
                      for f in faces])
        assert (np.sign(r - 1) == sign).all(), r


# ---------------------------------------------------------------- exact background, selection, overlap, fade

def test_background_exact_and_other_faces_untouched(group):
    img, faces, _, _ = group
    shape_only = Adjustments(**PRESETS["strong"].shape)
    out, report = retouch_report(img, faces, shape_only, select=[1])
    assert [r.index for r in report] == [1]
    changed = np.any(out != img, axis=2)
    x0, y0, x1, y1 = report[0].warp_roi
    outside = changed.copy()
    outside[y0:y1, x0:x1] = False
    assert changed.any() and not outside.any(), "pixels outside the face's region of influence changed"
    for i in (0, 2, 3):
        b = np.round(faces[i].box).astype(int)
        assert not changed[b[1]:b[3], b[0]:b[2]].any(), f"face {i} was not selected but changed"
    # with makeup too: only face 1's warp region and its face mask change
    out, report = retouch_report(img, faces, PRESETS["glam"], select=[1])
    changed = np.any(out != img, axis=2)
    allowed = face_mask(faces[1], "face", img.shape) > 0
    x0, y0, x1, y1 = report[0].warp_roi
    allowed[y0:y1, x0:x1] = True
    assert changed.any() and not (changed & ~allowed).any()
    # 'largest' picks one face only
    out2, rep2 = retouch_report(img, faces, PRESETS["natural"], select="largest")
    assert len(rep2) == 1


def test_overlapping_faces_do_not_tear(group):
    """Two faces whose regions overlap: the composed map stays one-to-one (positive Jacobian)."""
    img, faces, _, _ = group
    p = faces[1].points
    s = face_frame(p).scale
    q = p + np.array([0.9 * s, 0.1 * s])
    adj = Adjustments(**dict.fromkeys(SHAPE_PARAMS, 1.0))
    h, w = img.shape[:2]
    X, Y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    coords = np.dstack([X, Y, np.zeros_like(X)])
    fa, fb = face_field(p, adj, img.shape), face_field(q, adj, img.shape)
    ax0, ay0, ax1, ay1 = fa.roi
    bx0, by0, bx1, by1 = fb.roi
    assert max(ax0, bx0) < min(ax1, bx1) and max(ay0, by0) < min(ay1, by1), "regions should overlap"
    out = apply_field(coords, fa)
    out = apply_field(out, fb, out=out)
    sx, sy = out[..., 0], out[..., 1]
    det = np.gradient(sx, axis=1) * np.gradient(sy, axis=0) - np.gradient(sx, axis=0) * np.gradient(sy, axis=1)
    assert det[1:-1, 1:-1].min() > 0


def test_banded_remap_equals_one_region_remap(group):
    """apply_field remaps in bands of rows; the result equals one remap with the whole-region map."""
    img, faces, _, _ = group
    k = 6                                   # a ~700 px face: its region spans several bands
    h, w = img.shape[0] * k, img.shape[1] * k
    pts = faces[0].points * k
    fld = face_field(pts, Adjustments(**dict.fromkeys(SHAPE_PARAMS, 0.8)), (h, w, 3))
    x0, y0, x1, y1 = fld.roi
    assert (y1 - y0) > 3 * BAND_PX, "the test needs several bands"
    X, Y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    coords = np.dstack([X, Y, np.zeros_like(X)])
    banded = apply_field(coords, fld)
    m1, m2 = cv2.convertMaps(fld.source_map(), None, cv2.CV_16SC2)
    whole = coords.copy()
    cv2.remap(coords, m1, m2, cv2.INTER_LINEAR, dst=whole[y0:y1, x0:x1], borderMode=cv2.BORDER_REFLECT_101)
    assert float(np.abs(banded - whole).max()) < 0.05      # px; identical maps up to float rounding
    assert float(np.abs(banded[..., :2] - coords[..., :2]).max()) > 5, "the field moves pixels"


def test_skin_gain_in_bands_equals_whole_box_resample():
    """_apply_gain resamples A and B band by band; the result equals resampling the whole box at once."""
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (700, 500, 3), dtype=np.uint8)
    box = (37, 51, 463, 689)                 # 426 x 638: several bands, a non-integer scale
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0

    def gain(A, B):
        out = img.copy()
        _apply_gain(out, box, A, B)
        return out

    def whole(A, B, resample):
        a, b = resample(A), resample(B)
        ref = img.astype(np.float64)
        ref[y0:y1, x0:x1] = np.clip(np.rint(img[y0:y1, x0:x1] * a + b), 0, 255)
        return ref

    # arbitrary fields (B >= 0, as smoothing and blush give) against one affine resample of the box:
    # a band seam or a row off by one would show here
    A = rng.uniform(0.6, 1.4, (97, 61, 3)).astype(np.float32)
    B = rng.uniform(0, 40, (97, 61, 3)).astype(np.float32)
    M = np.array([[61 / w, 0, 0.5 * 61 / w - 0.5], [0, 97 / h, 0.5 * 97 / h - 0.5]])
    warp = lambda F: cv2.warpAffine(F, M, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_REPLICATE)
    diff = np.abs(gain(A, B) - whole(A, B, warp))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.001
    # smooth fields, as the guided filter gives, against cv2.resize: the same sampling
    A = cv2.GaussianBlur(A, (0, 0), 3)
    B = cv2.GaussianBlur(B, (0, 0), 3)
    diff = np.abs(gain(A, B) - whole(A, B, lambda F: cv2.resize(F, (w, h), interpolation=cv2.INTER_LINEAR)))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.02
    outside = np.ones(img.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(gain(A, B)[outside], img[outside])


def test_skin_gain_skips_only_pixels_it_would_leave_unchanged():
    """_apply_gain with `active` (the small mask > 0) computes only the pixels whose bilinear samples
    reach an active cell; A = 1 and B = 0 elsewhere, so the result is the full pass's, up to the
    warp's 1/32-cell position rounding (the span's own origin shifts it), which on fields as smooth
    as the skin pass's (a soft oval mask times blurred coefficients) moves a rare value by one level."""
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (700, 500, 3), dtype=np.uint8)
    box = (37, 51, 463, 689)
    hl, wl = 97, 61
    yy, xx = np.mgrid[0:hl, 0:wl]
    m = np.clip(1.0 - ((xx - 30) / 22.0) ** 2 - ((yy - 48) / 40.0) ** 2, 0.0, 1.0)[..., None]  # an oval, like a face
    active = m[..., 0] > 0
    smooth = lambda lo, hi: cv2.GaussianBlur(rng.uniform(lo, hi, (hl, wl, 3)).astype(np.float32), (0, 0), 3)
    A = (1.0 + m * (smooth(0.6, 1.4) - 1.0)).astype(np.float32)
    B = (m * smooth(0, 40)).astype(np.float32)
    full, part = img.copy(), img.copy()
    _apply_gain(full, box, A, B)
    _apply_gain(part, box, A, B, active=active)
    diff = np.abs(full.astype(int) - part)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-4
    assert (np.any(full != img, axis=2)).sum() > 50_000, "the pass changes the oval"


def test_blend_is_the_rounded_float_formula():
    """makeup._blend (OpenCV element-wise ops) equals out + alpha (target - out) in float32, rounded half
    to even and saturated, for an image target and a single colour, amounts above 1 included."""
    rng = np.random.default_rng(8)
    img = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    box = (7, 5, 71, 52)
    x0, y0, x1, y1 = box
    alpha = rng.uniform(0.0, 1.6, (y1 - y0, x1 - x0)).astype(np.float32)
    alpha[:10] = 0.0
    for target in (rng.uniform(0, 255, (y1 - y0, x1 - x0, 3)).astype(np.float32), np.array([20, 200, 90], np.float32)):
        out = img.copy()
        _blend(out, box, target, alpha)
        src = img[y0:y1, x0:x1].astype(np.float32)
        ref = np.clip(np.rint(src + alpha[..., None] * (target - src)), 0, 255).astype(np.uint8)
        assert np.array_equal(out[y0:y1, x0:x1], ref)
        assert np.array_equal(out[y0:y0 + 10], img[y0:y0 + 10]), "alpha 0 leaves pixels as they were"
        outside = np.ones(img.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(out[outside], img[outside])


def test_unreliable_faces_fade_out(group):
    img, faces, _, _ = group
    f = faces[2]
    adj = PRESETS["strong"]
    for face in (FaceStub(f.points, f.conf * 0.3), FaceStub(f.points, f.conf, reliable=False),
                 FaceStub(f.points, f.conf, pose={"yaw": 70.0, "pitch": 0.0, "roll": 0.0})):
        assert np.array_equal(retouch(img, [face], adj), img)
    _, rep = retouch_report(img, [FaceStub(f.points, f.conf, pose={"yaw": 40.0})], adj)
    assert 0 < rep[0].weight < 1
    _, rep = retouch_report(img, [FaceStub(f.points, f.conf, pose={"yaw": 5.0})], adj)
    assert rep[0].weight == 1


# ---------------------------------------------------------------- masks and makeup

def test_lip_mask_covers_lips_not_teeth(group):
    img, faces, _, _ = group
    f = faces[0]            # smiling, teeth visible between the inner lips
    p = f.points
    assert np.ptp(p[MOUTH_INNER, 1]) > 6
    m = face_mask(f, "lips", img.shape)
    inner_c = p[MOUTH_INNER].mean(0)
    assert m[int(inner_c[1]), int(inner_c[0])] < 0.1
    # the middle of the lower lip band: between outer bottom (93) and inner bottom (102)
    mid = (p[93] + p[102]) / 2
    assert m[int(mid[1]), int(mid[0])] > 0.6
    mouth = face_mask(f, "mouth", img.shape)
    assert mouth[int(inner_c[1]), int(inner_c[0])] > 0.9
    assert m.max() <= 1 and m.min() >= 0


def test_skin_mask_excludes_eyes_brows_mouth(group):
    img, faces, _, _ = group
    for f in faces:
        m = face_mask(f, "skin", img.shape)
        p = f.points
        for i in list(range(66, 84)) + [104, 105] + list(range(84, 104)):
            # the outer lip points (84-95) lie on the feathered edge of the mouth hole: a sub-pixel shift
            # of the points (OpenCV 4.8 + onnxruntime 1.16 in `make test-min`) moves them from 0.08 to 0.14
            limit = 0.2 if 84 <= i <= 95 else 0.1
            assert m[int(p[i, 1]), int(p[i, 0])] < limit, i
        for c in cheek_centres(p, face_frame(f)):
            assert m[int(c[1]), int(c[0])] > 0.9
        nose = p[53]
        assert m[int(nose[1]), int(nose[0])] > 0.9


def test_mask_feather_follows_face_size(group):
    img, faces, _, _ = group
    p = faces[1].points
    m1 = face_mask(p, "skin", img.shape)
    m3 = face_mask(p * 3, "skin", (img.shape[0] * 3, img.shape[1] * 3))
    down = cv2.resize(m3, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_AREA)
    d = np.abs(down - m1)
    assert d.mean() < 0.01 and np.percentile(d[m1 > 0], 99) < 0.25


def test_lipstick_changes_colour_keeps_texture(group):
    img, faces, _, _ = group
    f = faces[0]
    out = retouch(img, [f], Adjustments(lipstick=(200, 20, 60), lipstick_amount=0.8))
    m = face_mask(f, "lips", img.shape) > 0.8
    lab0 = cv2.cvtColor(img, cv2.COLOR_BGR2Lab).astype(np.float32)[m]
    lab1 = cv2.cvtColor(out, cv2.COLOR_BGR2Lab).astype(np.float32)[m]
    target = cv2.cvtColor(np.uint8([[[60, 20, 200]]]), cv2.COLOR_BGR2Lab)[0, 0].astype(np.float32)
    d0 = np.abs(lab0[:, 1:] - target[1:]).mean()
    d1 = np.abs(lab1[:, 1:] - target[1:]).mean()
    assert d1 < 0.5 * d0, "lip chroma should move toward the lipstick"
    assert np.corrcoef(lab0[:, 0], lab1[:, 0])[0, 1] > 0.9, "lightness texture must be kept"
    assert lab1[:, 0].std() > 0.7 * lab0[:, 0].std()
    teeth = (face_mask(f, "mouth", img.shape) > 0.9) & (face_mask(f, "lips", img.shape) < 0.02)
    assert teeth.sum() > 20
    assert np.abs(out[teeth].astype(int) - img[teeth]).max() <= 2, "teeth must not be painted"


def test_smooth_skin_smooths_skin_only(group):
    img, faces, _, _ = group
    f = faces[1]
    out = retouch(img, [f], Adjustments(smooth_skin=1.0))
    skin = face_mask(f, "skin", img.shape) > 0.95
    lap = lambda im: cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY).astype(np.float32), cv2.CV_32F)
    assert np.abs(lap(out)[skin]).mean() < 0.8 * np.abs(lap(img)[skin]).mean()
    eyes = face_mask(f, "eyes", img.shape) > 0.5
    assert np.abs(out[eyes].astype(int) - img[eyes]).max() <= 1, "eyes must not be blurred"
    changed = np.any(out != img, axis=2)
    face = face_mask(f, "face", img.shape) > 0
    assert not (changed & ~face).any()
