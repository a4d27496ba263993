"""Augmentation keeps landmarks on the drawn features.

The synthetic face is rendered with a coloured dot on every landmark (colour
per fine region), so "the point still sits on its feature" is checked by
reading the pixel under each transformed point.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipnet106.data import augment
from pipnet106.synth import faces as synth
from pipnet106.config import Config
from pipnet106.layout import LAPA106

SIZE = 256
NAMES = list(LAPA106.regions)
COLORS = np.array([synth.MARKER_COLORS[n] for n in NAMES], dtype=np.float64)
POINT_REGION = np.array([NAMES.index(r) for r in LAPA106.region_of()])


@pytest.fixture(scope="module")
def face():
    img, pts = synth.render_face(np.random.default_rng(7), SIZE, SIZE, markers=True)
    assert img.shape == (SIZE, SIZE, 3) and img.dtype == np.uint8 and pts.shape == (106, 2)
    return img, np.asarray(pts, dtype=np.float64)


def closest_region(image, points):
    """Index into NAMES of the marker colour closest to the pixel under each point (-1 outside)."""
    ij = np.floor(points).astype(int)
    h, w = image.shape[:2]
    inside = (ij[:, 0] >= 0) & (ij[:, 0] < w) & (ij[:, 1] >= 0) & (ij[:, 1] < h)
    out = np.full(len(points), -1)
    px = image[ij[inside, 1], ij[inside, 0]].astype(np.float64)
    out[inside] = ((px[:, None, :] - COLORS[None]) ** 2).sum(-1).argmin(1)
    return out


def hit_rate(image, points, box=None, flipped=False):
    """Fraction of points inside the image (and outside `box`) that sit on their own marker.

    After a horizontal flip, point i sits on the dot drawn for point flip[i] (a flip moves pixels,
    it does not repaint them), so its expected colour is that of the mirror region.
    """
    expect = POINT_REGION[LAPA106.flip_index] if flipped else POINT_REGION
    reg = closest_region(image, points)
    use = reg >= 0
    if box is not None:
        x0, y0, x1, y1 = box
        ij = np.floor(points).astype(int)
        use &= ~((ij[:, 0] >= x0) & (ij[:, 0] < x1) & (ij[:, 1] >= y0) & (ij[:, 1] < y1))
    assert use.sum() >= 40, "too few usable points for the check"
    same = (COLORS[reg[use]] == COLORS[expect[use]]).all(axis=1)   # compare colours: some may be shared
    return float(same.mean())


def cfg(**kw):
    base = dict(rotate_prob=0.0, scale_prob=0.0, shift_prob=0.0, flip_prob=0.0, occlude_prob=0.0,
                blur_prob=0.0, color_prob=0.0)
    base.update(kw)
    return Config(**base)


def test_markers_baseline(face):
    img, pts = face
    assert hit_rate(img, pts) > 0.95


@pytest.mark.parametrize("angle,scale,shift", [
    (30.0, 1.0, (0.0, 0.0)), (-30.0, 1.0, (0.0, 0.0)), (0.0, 0.8, (0.0, 0.0)), (0.0, 1.2, (0.0, 0.0)),
    (0.0, 1.0, (17.3, -11.6)), (25.0, 0.85, (-9.0, 6.5)),
])
def test_affine_keeps_points_on_markers(face, angle, scale, shift):
    img, pts = face
    out, p = augment.affine(img, pts, angle, scale, shift)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert hit_rate(out, p) > 0.9
    # the check can fail: untransformed points no longer sit on the moved markers
    assert hit_rate(out, pts) < 0.5


def test_affine_pixel_centre_convention():
    # 90 deg about the centre and integer shifts are exact pixel permutations, so a single
    # lit pixel must land exactly where the transformed pixel-centre point says.
    img = np.zeros((16, 16, 3), np.uint8)
    img[3, 5] = 255
    pt = np.array([[5.5, 3.5]])
    for angle, shift in [(90.0, (0.0, 0.0)), (-90.0, (0.0, 0.0)), (180.0, (0.0, 0.0)), (0.0, (3.0, -2.0)),
                         (90.0, (2.0, 1.0))]:
        out, p = augment.affine(img, pt, angle, 1.0, shift, border_value=(0, 0, 0))
        lit = np.argwhere(out[..., 0] > 127)
        assert len(lit) == 1, (angle, shift)
        y, x = lit[0]
        np.testing.assert_allclose(p, [[x + 0.5, y + 0.5]], atol=1e-9)
    # scale about the centre: the image centre (continuous 8, 8) is fixed
    _, p = augment.affine(img, np.array([[8.0, 8.0]]), 33.0, 1.7, (0.0, 0.0))
    np.testing.assert_allclose(p, [[8.0, 8.0]], atol=1e-9)


def test_affine_points_leaving_image_keep_coords_and_mask(face):
    img, pts = face
    mask = np.ones(len(pts), bool)
    mask[::7] = False
    aug = augment.Augmenter(cfg(shift_prob=1.0, shift_frac=0.45), LAPA106)
    rng = np.random.default_rng(0)
    info: dict = {}
    out, p, m, _ = aug(img, pts, mask, rng, info)
    np.testing.assert_array_equal(m, mask)
    np.testing.assert_allclose(p, pts + np.array(info["shift"]), atol=1e-9)
    _, p2 = augment.affine(img, pts, 0.0, 1.0, (300.0, 0.0))
    assert (p2[:, 0] > SIZE).all()
    np.testing.assert_allclose(p2, pts + [300.0, 0.0], atol=1e-9)


def test_hflip_semantics(face):
    img, pts = face
    mask = np.ones(len(pts), bool)
    out, p, m = augment.hflip(img, pts, mask, LAPA106)
    assert hit_rate(out, p, flipped=True) > 0.9
    # labels follow the image: 104 is still the pupil on the image's left, 66 the image-left eye
    assert pts[104, 0] < pts[105, 0] and p[104, 0] < p[105, 0]
    assert pts[66, 0] < pts[79, 0] and p[66, 0] < p[79, 0] and p[33, 0] < p[46, 0]
    # new point 66 sits on the eye dot that was drawn on the image's right (for old point 79);
    # a flip that forgot to relabel would leave it on the dot drawn for old 66
    under66 = COLORS[closest_region(out, p[66:67])[0]]
    np.testing.assert_array_equal(under66, COLORS[NAMES.index("right_eye")])
    np.testing.assert_array_equal(COLORS[closest_region(out, p[104:105])[0]], COLORS[NAMES.index("right_pupil")])
    assert NAMES[POINT_REGION[66]] == "left_eye" and NAMES[POINT_REGION[104]] == "left_pupil"
    if not np.array_equal(COLORS[NAMES.index("left_eye")], COLORS[NAMES.index("right_eye")]):
        no_relabel = p[LAPA106.flip_index]          # mirrored coordinates, old labels
        assert hit_rate(out, no_relabel, flipped=True) < 0.9
    # its region colour is the eye colour either way (an eye dot, not skin or contour)
    assert NAMES[closest_region(out, p[66:67])[0]] in ("left_eye", "right_eye")
    # continuous convention: x -> size - x, matching cv2.flip on pixels
    np.testing.assert_allclose(p[LAPA106.flip_index, 0], SIZE - pts[:, 0])
    np.testing.assert_array_equal(out, cv2.flip(img, 1))
    # twice is the identity (image bit-exact; points to float rounding of size - x)
    back, p2, m2 = augment.hflip(out, p, m, LAPA106)
    np.testing.assert_array_equal(back, img)
    np.testing.assert_allclose(p2, pts, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(m2, mask)


def test_hflip_pixel_convention_matches_layout_mirror():
    img = np.zeros((8, 8, 3), np.uint8)
    img[2, 1] = 255
    pts = np.tile([[1.5, 2.5]], (106, 1)) + np.arange(106)[:, None] * 0.01
    out, p, _ = augment.hflip(img, pts, np.ones(106, bool), LAPA106)
    y, x = np.argwhere(out[..., 0] > 0)[0]
    assert (x, y) == (6, 2)
    np.testing.assert_allclose(p, LAPA106.mirror_points(pts, 8), atol=1e-12)
    # the lit pixel centre (1.5, 2.5) lands on the centre of pixel 6
    np.testing.assert_allclose(p[:, 1], pts[LAPA106.flip_index, 1])
    assert abs(p[0, 0] - (8 - pts[LAPA106.flip_index[0], 0])) < 1e-12


def test_hflip_permutes_mask_with_points(face):
    img, pts = face
    rng = np.random.default_rng(1)
    mask = rng.random(len(pts)) < 0.5
    mask[104], mask[105] = True, False
    _, p, m = augment.hflip(img, pts, mask, LAPA106)
    np.testing.assert_array_equal(m, mask[LAPA106.flip_index])
    assert not m[104] and m[105]
    # and the Augmenter's flip does the same
    _, pa, ma, _ = augment.Augmenter(cfg(flip_prob=1.0), LAPA106)(img, pts, mask, rng)
    np.testing.assert_array_equal(ma, m)
    np.testing.assert_allclose(pa, p)


def test_occlude(face):
    img, pts = face
    rng = np.random.default_rng(2)
    for _ in range(20):
        out, (x0, y0, x1, y1) = augment.occlude(img, rng, return_box=True)
        assert 0.1 * SIZE - 1 <= x1 - x0 <= 0.4 * SIZE + 1 and 0.1 * SIZE - 1 <= y1 - y0 <= 0.4 * SIZE + 1
        assert 0 <= x0 < x1 <= SIZE and 0 <= y0 < y1 <= SIZE
        outside = np.ones(img.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(out[outside], img[outside])
        assert not np.array_equal(out[y0:y1, x0:x1], img[y0:y1, x0:x1])
        assert hit_rate(out, pts, (x0, y0, x1, y1)) > 0.9
    out, p, m, vis = augment.Augmenter(cfg(occlude_prob=1.0), LAPA106)(img, pts, np.ones(106, bool), rng)
    np.testing.assert_array_equal(p, pts)      # occluded points stay labelled
    assert m.all()


def _best_integer_shift(a, b):
    """Integer (dx, dy) in [-2, 2]^2 that best aligns b to a (mean squared error)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    errs = {(dx, dy): ((np.roll(a, (dy, dx), axis=(0, 1)) - b)[4:-4, 4:-4] ** 2).mean()
            for dx in range(-2, 3) for dy in range(-2, 3)}
    return min(errs, key=errs.get)


def test_blur_keeps_geometry(face):
    img, pts = face
    rng = np.random.default_rng(3)
    dot = np.zeros((21, 21, 3), np.uint8)
    dot[10, 10] = 255
    yy, xx = np.mgrid[0:21, 0:21]
    for _ in range(12):
        out = augment.blur(img, rng)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert not np.array_equal(out, img)
        assert _best_integer_shift(img, out) == (0, 0)
        # the blur of a single lit pixel stays centred on it (no sub-pixel drift)
        d = augment.blur(dot, rng)[..., 0].astype(np.float64)
        assert d.sum() > 0 and d[10, 10] < 255
        assert abs((d * xx).sum() / d.sum() - 10) < 0.05 and abs((d * yy).sum() / d.sum() - 10) < 0.05
    # the shift check can fail
    assert _best_integer_shift(img, np.roll(img, 1, axis=1)) == (1, 0)
    mask = np.ones(106, bool)
    _, p, m, _ = augment.Augmenter(cfg(blur_prob=1.0), LAPA106)(img, pts, mask, rng)
    np.testing.assert_array_equal(p, pts)
    np.testing.assert_array_equal(m, mask)


def _is_pointwise_map(src, dst):
    """True when equal source colours always give equal output colours (no geometric change)."""
    key = src.reshape(-1, 3).astype(np.int64) @ np.array([1, 256, 65536])
    _, first = np.unique(key, return_index=True)
    _, inv = np.unique(key, return_inverse=True)
    return np.array_equal(dst.reshape(-1, 3), dst.reshape(-1, 3)[first][inv.ravel()])


def test_color_jitter_keeps_geometry(face):
    img, pts = face
    rng = np.random.default_rng(4)
    grays = 0
    for _ in range(30):
        out = augment.color_jitter(img, rng)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert _is_pointwise_map(img, out)
        grays += bool((out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all())
    assert 0 < grays < 30
    assert not _is_pointwise_map(img, np.roll(img, 1, axis=0))
    mask = np.ones(106, bool)
    _, p, m, _ = augment.Augmenter(cfg(color_prob=1.0), LAPA106)(img, pts, mask, rng)
    np.testing.assert_array_equal(p, pts)
    np.testing.assert_array_equal(m, mask)


def test_full_augmenter_all_steps(face):
    img, pts = face
    mask = np.ones(106, bool)
    mask[[3, 40, 104]] = False
    full = cfg(rotate_prob=1.0, rotate_deg=30.0, scale_prob=1.0, scale_range=0.2, shift_prob=1.0,
               shift_frac=0.05, flip_prob=1.0, occlude_prob=1.0, blur_prob=1.0, color_prob=1.0)
    no_color = cfg(**{**full.to_dict(), "color_prob": 0.0})
    no_blur = cfg(**{**full.to_dict(), "color_prob": 0.0, "blur_prob": 0.0})
    rates = []
    for seed in range(6):
        info: dict = {}
        img_in, pts_in, mask_in = img.copy(), pts.copy(), mask.copy()
        out, p, m, _ = augment.Augmenter(full, LAPA106)(img, pts, mask, np.random.default_rng(seed), info)
        # inputs untouched
        np.testing.assert_array_equal(img, img_in)
        np.testing.assert_array_equal(pts, pts_in)
        np.testing.assert_array_equal(mask, mask_in)
        assert info["flip"] and info["angle"] != 0 and info["scale"] != 1 and info["occlusion"] is not None
        np.testing.assert_array_equal(m, mask[LAPA106.flip_index])
        assert p[104, 0] < p[105, 0]
        # Blur and colour come last, so the same seed with them switched off gives the same geometry.
        # Markers are read before blur (a blurred yellow dot on dark skin reads as orange), and the
        # later steps are shown not to move anything: blur has no shift, colour is a per-colour map.
        blurred, p_b, m_b, _ = augment.Augmenter(no_color, LAPA106)(img, pts, mask, np.random.default_rng(seed))
        sharp, p_s, m_s, _ = augment.Augmenter(no_blur, LAPA106)(img, pts, mask, np.random.default_rng(seed))
        for q, mm in ((p_b, m_b), (p_s, m_s)):
            np.testing.assert_array_equal(p, q)
            np.testing.assert_array_equal(m, mm)
        assert _is_pointwise_map(blurred, out)
        assert not np.array_equal(blurred, sharp) and _best_integer_shift(sharp, blurred) == (0, 0)
        rates.append(hit_rate(sharp, p, info["occlusion"], flipped=True))
        # bookkeeping matches the documented order: flip, then one warp
        _, pf, _ = augment.hflip(img, pts, mask, LAPA106)
        _, pw = augment.affine(img, pf, info["angle"], info["scale"], info["shift"])
        np.testing.assert_allclose(p, pw, atol=1e-9)
    assert min(rates) > 0.9, rates


def test_augmenter_float32_points_and_defaults(face):
    img, pts = face
    aug = augment.Augmenter(Config(), None)
    rng = np.random.default_rng(5)
    for _ in range(10):
        out, p, m, _ = aug(img, pts.astype(np.float32), np.ones(106, bool), rng)
        assert out.shape == img.shape and out.dtype == np.uint8 and out.flags.c_contiguous
        assert p.shape == (106, 2) and p.dtype == np.float32 and m.dtype == bool and m.all()
    with pytest.raises(ValueError):
        aug(img, pts, np.ones(5, bool), rng)
    with pytest.raises(ValueError):
        aug(img[..., 0], pts, np.ones(106, bool), rng)


def test_jpeg_and_low_resolution_keep_geometry():
    """Both only degrade appearance: a bright square stays where it was, the image changes."""
    from pipnet106.data.augment import jpeg, low_resolution

    img = np.full((64, 64, 3), 40, np.uint8)
    img[20:36, 28:44] = 220
    rng = np.random.default_rng(0)
    for f in (jpeg, low_resolution):
        out = f(img, rng)
        assert out.shape == img.shape and out.dtype == np.uint8 and not np.array_equal(out, img)
        ys, xs = np.nonzero(out[:, :, 1] > 130)
        assert abs(xs.mean() + 0.5 - 36.0) < 0.3 and abs(ys.mean() + 0.5 - 28.0) < 0.3  # centre of mass stays
        assert abs(float(out.mean()) - float(img.mean())) < 3.0


def test_new_steps_off_by_default_keep_old_augmentations():
    """jpeg_prob / lowres_prob default to 0; switched on they change pixels, never the points."""
    from pipnet106.data.augment import Augmenter
    from pipnet106.config import Config

    img = np.random.default_rng(1).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    pts = np.random.default_rng(2).uniform(5, 43, (106, 2))
    mask = np.ones(106, bool)
    cfg = Config()
    a = Augmenter(cfg)
    info = {}
    rng_a = np.random.default_rng(5)
    out1 = a(img, pts, mask, rng_a, info)
    assert not info["jpeg"] and not info["lowres"]
    c = Augmenter(cfg)
    c.jpeg_prob = c.lowres_prob = 1.0
    info = {}
    out3 = c(img, pts, mask, np.random.default_rng(5), info)
    assert info["jpeg"] and info["lowres"] and np.array_equal(out3[1], out1[1])  # same geometry, new pixels


def test_shape_augmentation_keeps_points_on_their_markers():
    """A random shape change warps the photo and maps the labels through the same field: every
    label still sits on its own dot, while the points really moved."""
    moved_faces = 0
    for seed in range(8):
        img, pts = synth.render_face(np.random.default_rng(seed), SIZE, SIZE, markers=True, max_yaw=15)
        out, moved, values = augment.reshape_face(img, pts, np.ones(106, bool), np.random.default_rng(seed))
        assert values is not None
        moved_faces += int(np.abs(moved - pts).max() > 1.5)
        assert hit_rate(out, moved) >= hit_rate(img, pts) - 0.02, (seed, values)
    assert moved_faces >= 6


def test_no_shape_augmentation_keeps_the_old_random_stream(face):
    """shape_prob 0 (older configs) draws no random number: the same seed augments as before."""
    img, pts = face
    a = augment.Augmenter(cfg(rotate_prob=1.0, occlude_prob=1.0), LAPA106)
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    assert a.reshape(img, pts, np.ones(106, bool), rng_a)[2] is None
    np.testing.assert_array_equal(a(img, pts, np.ones(106, bool), rng_a)[0], a(img, pts, np.ones(106, bool), rng_b)[0])
