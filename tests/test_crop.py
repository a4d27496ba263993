"""The crop rule shared by prepare and inference: exact geometry, and no aliasing when shrinking."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipnet106.crop import CropTransform, box_transform, crop_from_points, pixel_centre_matrix


def _lit(h: int, w: int, x: int, y: int) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[y, x] = 255
    return img


def _centroid(crop: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre in continuous crop coordinates (pixel i covers [i, i+1))."""
    g = crop[..., 0].astype(np.float64)
    ys, xs = np.mgrid[: g.shape[0], : g.shape[1]]
    return np.array([(g * (xs + 0.5)).sum(), (g * (ys + 0.5)).sum()]) / g.sum()


def test_one_to_one_crop_is_a_pure_shift():
    img = _lit(40, 50, 17, 23)
    crop = CropTransform(1.0, -10.0, -5.0, 32).apply(img)
    assert crop[18, 7, 0] == 255 and crop.sum() == 3 * 255  # (17 - 10, 23 - 5), nothing else lit


@pytest.mark.parametrize("scale,ox,oy", [(0.25, -8.0, -12.0), (0.125, 0.0, -4.0), (0.5, -23.0, -31.0)])
def test_lit_pixel_lands_where_the_matrix_says_when_shrinking(scale, ox, oy):
    """k x k source blocks aligned with crop pixels: the lit pixel spreads exactly over its own crop pixel."""
    t = CropTransform(scale, ox, oy, 16)
    k = round(1 / scale)
    x, y = 61, 70
    crop = t.apply(_lit(160, 140, x, y))
    cx, cy = np.floor(t.to_crop(np.array([x + 0.5, y + 0.5]))).astype(int)
    assert 0 <= cx < 16 and 0 <= cy < 16
    assert crop[cy, cx, 0] == round(255 / k**2)
    assert crop[..., 0].astype(int).sum() == crop[cy, cx, 0]  # only that pixel


@pytest.mark.parametrize("scale", [2.0, 0.7, 0.31, 0.093])
def test_light_centre_follows_to_crop(scale):
    """Any scale and fractional offset: a blob's centre lands on `to_crop` of its source centre."""
    centre = np.array([233.37, 187.81])
    ys, xs = np.mgrid[:420, :460]
    sigma = 2.0 / scale  # two crop pixels wide whatever the scale
    blob = 255 * np.exp(-((xs + 0.5 - centre[0]) ** 2 + (ys + 0.5 - centre[1]) ** 2) / (2 * sigma**2))
    img = np.repeat(np.rint(blob).astype(np.uint8)[..., None], 3, axis=2)
    t = box_transform(np.array([centre[0] - 13.3 / scale, centre[1] - 17.6 / scale,
                                centre[0] + 18.7 / scale, centre[1] + 14.4 / scale]), 32)
    np.testing.assert_allclose(_centroid(t.apply(img)), t.to_crop(centre), atol=0.03)


def test_pixel_centre_matrix_of_identity_and_scale():
    np.testing.assert_allclose(pixel_centre_matrix(np.eye(2, 3)), np.eye(2, 3))
    # continuous x' = 2x: pixel centre 0 (continuous 0.5) -> continuous 1.0 -> centre 0.5
    np.testing.assert_allclose(pixel_centre_matrix(np.array([[2.0, 0, 0], [0, 2.0, 0]])),
                               [[2.0, 0, 0.5], [0, 2.0, 0.5]])
    np.testing.assert_allclose(CropTransform(0.3, 1.5, -2.0, 8).matrix(),
                               pixel_centre_matrix(np.array([[0.3, 0, 1.5], [0, 0.3, -2.0]])))


@pytest.mark.parametrize("scale", [0.41, 0.29, 0.173, 0.11])
@pytest.mark.parametrize("period", [2, 3])
def test_fine_stripes_keep_their_mean_instead_of_moire(scale, period):
    """Stripes finer than the crop's pixels must become flat grey, not bands."""
    h = w = 1600
    stripes = np.where(np.arange(w) % period == 0, 255, 0).astype(np.uint8)
    img = np.repeat(np.broadcast_to(stripes, (h, w))[..., None], 3, axis=2).copy()
    t = CropTransform(scale, -137.37 * scale, -211.9 * scale, 64)
    crop = t.apply(img)[..., 0].astype(np.float64)
    # a box filter leaks a little above the crop's Nyquist frequency (std <= 0.2 of the pattern's
    # at these scales); bilinear sampling keeps 0.6-0.7 of it as bands
    assert abs(crop.mean() - stripes.mean()) < 2
    assert crop.std() < 0.25 * stripes.std(), f"moire: std {crop.std():.1f} of {stripes.std():.1f}"


def test_same_content_at_two_resolutions_gives_the_same_crop():
    """A photo and its 2x pixel-replicated copy cropped to the same face: the crops agree."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)
    big = np.repeat(np.repeat(img, 2, axis=0), 2, axis=1)
    pts = np.array([[40.3, 52.1], [211.7, 240.9]])
    small_crop = crop_from_points(pts, 64).apply(img)
    big_crop = crop_from_points(pts * 2, 64).apply(big)
    assert np.abs(small_crop.astype(int) - big_crop.astype(int)).mean() < 2.0


def test_crop_off_the_image_is_border():
    img = np.full((50, 50, 3), 200, np.uint8)
    assert not CropTransform(0.2, 500.0, 500.0, 16).apply(img).any()
    half = CropTransform(0.25, -6.25, 0.0, 16).apply(img)  # source x in [25, 89): right half is off the image
    assert half[:12, :5].min() == 200 and not half[:, 8:].any()


def test_gray_images_border_value_and_huge_faces(monkeypatch):
    from pipnet106 import crop

    rng = np.random.default_rng(1)
    img = cv2.resize(rng.integers(0, 256, (50, 45, 3), dtype=np.uint8), (900, 1000), interpolation=cv2.INTER_CUBIC)
    t = CropTransform(0.06, -8.5, 1.25, 48)  # partly above the image
    colour = t.apply(img, border_value=(10, 20, 30))
    assert tuple(colour[0, 20]) == (10, 20, 30)
    np.testing.assert_array_equal(t.apply(np.ascontiguousarray(img[..., 1])), t.apply(img)[..., 1])
    monkeypatch.setattr(crop, "_MAX_INTEGRAL_PIXELS", 200_000)  # forces 2 x 2 pre-averaging (memory bound)
    blocks = t.apply(img, border_value=(10, 20, 30))
    assert np.abs(blocks.astype(int) - colour).mean() < 0.5


def _overlap_weights(edges: np.ndarray, size: int) -> np.ndarray:
    """(n, size) lengths of [edges[i], edges[i+1]) inside each source pixel [j, j+1): exact 1-D footprints."""
    lo, hi = edges[:-1, None], edges[1:, None]
    j = np.arange(size)[None, :]
    return np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0, None)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_area_crop_equals_exact_footprint_means(seed):
    """Against an independent float64 reference (separable overlap-length matrices): every crop pixel is
    the mean over its fractional footprint, off-image area as the border value; rounding at exact halves aside."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (190, 230, 3), dtype=np.uint8)
    n = 24
    s = rng.uniform(0.09, 0.45)
    t = CropTransform(s, rng.uniform(2, 15) * s, -rng.uniform(0, 190 - 0.5 * n / s) * s, n)  # starts left of x = 0
    border = (7, 77, 177)
    ex, ey = (np.arange(n + 1) - t.offset_x) / s, (np.arange(n + 1) - t.offset_y) / s
    wx, wy = _overlap_weights(ex, 230), _overlap_weights(ey, 190)
    inside = np.einsum("iy,yxc,kx->ikc", wy, img.astype(np.float64), wx)
    covered = np.outer(wy.sum(1), wx.sum(1))[..., None]
    ref = (inside + np.array(border) * (1 / s**2 - covered)) * s**2
    got = t.apply(img, border_value=border).astype(int)
    assert (covered < 0.999 / s**2).any()  # part of the footprint is off the image
    assert np.abs(got - ref).max() <= 0.5 + 1e-3  # the exact mean, rounded


def test_fast_crop_maths_give_the_same_numbers_as_the_general_rule():
    """`CropTransform.matrix` and `square_crop` are the per-frame paths written in Python floats;
    they must equal `pixel_centre_matrix` and `box_transform(square_box(...))` exactly."""
    from pipnet106.crop import square_box, square_crop

    rng = np.random.default_rng(11)
    for _ in range(2000):
        s, ox, oy = rng.uniform(0.01, 12), rng.uniform(-5e3, 5e3), rng.uniform(-5e3, 5e3)
        t = CropTransform(s, ox, oy, 128)
        assert np.array_equal(t.matrix(), pixel_centre_matrix(np.array([[s, 0, ox], [0, s, oy]])))
        box = np.sort(rng.uniform(-100, 3000, 4).reshape(2, 2), axis=0).ravel()[[0, 2, 1, 3]]
        assert square_crop(box, 128, 1.25) == box_transform(square_box(box, 1.25), 128)
