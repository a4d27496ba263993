"""Synthetic faces: exact, symmetric template; features drawn on their points; dataset files."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipnet106.synth import faces as synth
from pipnet106.fileio import read_image
from pipnet106.layout import LAPA106

NAMES = list(LAPA106.regions)
REGION = LAPA106.region_of()


def inside_polygon(poly: np.ndarray, pt: np.ndarray) -> bool:
    return cv2.pointPolygonTest(poly.astype(np.float32), (float(pt[0]), float(pt[1])), False) > 0


def check_face_sanity(p: np.ndarray) -> None:
    """Region relations that hold for the template and any rendered face (|roll|, |yaw| <= 30)."""
    assert p[66, 0] < p[79, 0]
    assert p[104, 0] < p[105, 0]
    assert inside_polygon(p[66:74], p[104]) and inside_polygon(p[75:83], p[105])
    assert inside_polygon(p[84:96], p[98]) or np.allclose(p[98], p[102], atol=0.02 * np.ptp(p[:, 0]))


def test_template_symmetric_under_flip_map():
    t = synth.template()
    assert t.shape == (106, 2) and t.dtype == np.float64 and np.isfinite(t).all()
    mirrored = t.copy()
    mirrored[:, 0] = 1.0 - mirrored[:, 0]
    np.testing.assert_allclose(mirrored[LAPA106.flip_index], t, atol=1e-6)
    # not trivially symmetric: without the relabelling the mirror is far off
    assert np.abs(mirrored - t).max() > 0.3
    assert 0.05 < t[:, 0].min() < 0.15 and 0.85 < t[:, 0].max() < 0.95 and t[:, 1].max() <= 0.96
    # returns a copy
    t[0] = 5
    assert synth.template()[0, 0] != 5
    assert np.array_equal(synth.template("106"), synth.template())
    with pytest.raises(ValueError):
        synth.template("ibug68")


def test_template_region_sanity():
    t = synth.template()
    contour = t[0:33]
    assert contour[:, 1].argmax() == 16
    assert t[0, 1] < t[8, 1] and t[32, 1] < t[24, 1]  # ear tops above the jaw
    eye_a, eye_b = t[66:74], t[75:83]
    assert eye_a[:, 0].argmin() == 0 and t[66, 0] < t[70, 0]  # 66 outer (leftmost), 70 inner
    assert eye_b[:, 0].argmax() == 79 - 75 and t[75, 0] < t[79, 0]
    np.testing.assert_allclose(t[104], t[74])
    np.testing.assert_allclose(t[105], t[83])
    assert t[87, 1] < t[93, 1] and t[98, 1] < t[102, 1]
    assert t[84, 0] < t[87, 0] < t[90, 0] and t[96, 0] < t[100, 0]
    assert np.allclose(t[[51, 52, 53, 54, 60, 87, 93, 98, 102, 16], 0], 0.5)
    assert (np.diff(t[51:55, 1]) > 0).all()  # bridge runs top -> tip
    assert t[33:51, 1].max() < t[66:84, 1].min()  # brows above eyes
    assert t[66:84, 1].max() < t[54, 1] < t[84:96, 1].min()  # eyes, nose tip, mouth top to bottom
    for brow in (t[33:42], t[42:51]):
        assert cv2.contourArea(brow.astype(np.float32)) > 1e-3  # a real loop, not a zig-zag
    check_face_sanity(t)


def test_render_deterministic_and_in_frame():
    img, pts = synth.render_face(np.random.default_rng(11), 200, 150)
    img2, pts2 = synth.render_face(np.random.default_rng(11), 200, 150)
    assert img.shape == (150, 200, 3) and img.dtype == np.uint8 and pts.shape == (106, 2)
    assert pts.dtype == np.float64
    np.testing.assert_array_equal(img, img2)
    np.testing.assert_array_equal(pts, pts2)
    img3, pts3 = synth.render_face(np.random.default_rng(12), 200, 150)
    assert not np.array_equal(pts, pts3)
    rng = np.random.default_rng(0)
    fracs = []
    for _ in range(30):
        w, h = (int(v) for v in rng.integers(120, 300, 2))
        im, p = synth.render_face(rng, w, h)
        assert im.shape == (h, w, 3) and np.isfinite(p).all()
        fracs.append(np.mean((p[:, 0] >= 0) & (p[:, 0] < w) & (p[:, 1] >= 0) & (p[:, 1] < h)))
        check_face_sanity(p)
        iod = np.linalg.norm(p[66] - p[79]) / min(w, h)
        assert 0.15 < iod < 0.55
    assert np.mean(fracs) > 0.95 and np.median(fracs) == 1.0


def test_frontal_render_is_scaled_template():
    img, pts = synth.render_face(np.random.default_rng(2), 300, 300, max_yaw=0, max_roll=0, max_pitch=0,
                                 vary=0, scale_range=(0.6, 0.6))
    t = synth.template()
    # same shape up to a translation: scale 0.6 * 300 px per template unit
    np.testing.assert_allclose(pts - pts.mean(0), (t - t.mean(0)) * 180.0, atol=1e-9)


def test_markers_sit_on_points():
    for seed in range(4):
        img, pts = synth.render_face(np.random.default_rng(seed), 256, 256, markers=True)
        plain, pts0 = synth.render_face(np.random.default_rng(seed), 256, 256)
        np.testing.assert_array_equal(pts, pts0)  # markers draw nothing random
        for i, name in ((104, "left_pupil"), (105, "right_pupil")):
            x, y = np.floor(pts[i]).astype(int)
            np.testing.assert_array_equal(img[y, x], synth.MARKER_COLORS[name])
        ok = synth.marker_visible(pts, size=(256, 256))
        assert ok.sum() > 80 and not ok[74] and not ok[83]
        ij = np.floor(pts[ok]).astype(int)
        want = np.array([synth.MARKER_COLORS[REGION[i]] for i in np.flatnonzero(ok)])
        np.testing.assert_array_equal(img[ij[:, 1], ij[:, 0]], want)
        # without markers those pixels are mostly something else
        assert (plain[ij[:, 1], ij[:, 0]] != want).any(axis=1).mean() > 0.9


def test_marker_colours_distinct_per_region():
    assert set(synth.MARKER_COLORS) == set(NAMES)
    cols = np.array([synth.MARKER_COLORS[n] for n in NAMES], float)
    d = np.linalg.norm(cols[:, None] - cols[None], axis=-1)
    assert d[~np.eye(len(NAMES), dtype=bool)].min() > 100


def test_marker_is_centred_subpixel():
    # a dot is drawn in continuous pixel coordinates: its intensity centroid is the point itself
    kw = dict(scale_range=(0.85, 0.85))
    for seed in range(3):
        plain, p = synth.render_face(np.random.default_rng(seed), 400, 400, **kw)
        marked, _ = synth.render_face(np.random.default_rng(seed), 400, 400, markers=True, **kw)
        diff = np.abs(marked.astype(float) - plain.astype(float)).sum(-1)
        for i in (104, 105):
            x0, y0 = np.floor(p[i]).astype(int)
            win = diff[y0 - 4:y0 + 5, x0 - 4:x0 + 5]
            yy, xx = np.mgrid[y0 - 4:y0 + 5, x0 - 4:x0 + 5] + 0.5
            c = np.array([(win * xx).sum(), (win * yy).sum()]) / win.sum()
            assert np.abs(c - p[i]).max() < 0.2, (seed, i, c, p[i])


def test_hflip_of_image_matches_mirrored_relabelled_points():
    img, pts = synth.render_face(np.random.default_rng(3), 240, 200, markers=True)
    flipped = cv2.flip(img, 1)
    q = pts.copy()
    q[:, 0] = 240 - q[:, 0]  # continuous coordinates: x -> W - x
    q = q[LAPA106.flip_index]
    assert q[104, 0] < q[105, 0]
    ok = synth.marker_visible(q, size=(240, 200))
    ij = np.floor(q[ok]).astype(int)
    # point i now sits on the dot drawn for point flip[i]: the mirror region's colour
    want = np.array([synth.MARKER_COLORS[REGION[LAPA106.flip[i]]] for i in np.flatnonzero(ok)])
    np.testing.assert_array_equal(flipped[ij[:, 1], ij[:, 0]], want)


def test_pupils_are_dark_and_eyes_white():
    for seed in range(8):
        img, p = synth.render_face(np.random.default_rng(seed), 256, 256)
        for i in (104, 105):
            x, y = np.floor(p[i]).astype(int)
            assert img[y, x].mean() < 80, (seed, i, img[y, x])
    for seed in range(8):
        # moderate yaw, so that the far eye is not mostly iris
        img, p = synth.render_face(np.random.default_rng(seed), 256, 256, max_yaw=15)
        for i, outer in ((104, 66), (105, 79)):
            x, y = np.floor(p[i]).astype(int)
            # between the iris and the outer corner there is bright eye white
            q = np.floor(p[i] + np.linspace(0.5, 0.8, 7)[:, None] * (p[outer] - p[i])).astype(int)
            white = img[q[:, 1], q[:, 0]].mean(axis=1).max()
            assert white > 130 and white > img[y, x].mean() + 100, (seed, i, white)


def test_gray_output():
    img, _ = synth.render_face(np.random.default_rng(4), 128, 160, gray=True)
    assert img.shape == (160, 128, 3)
    assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 0], img[..., 2])
    assert img.std() > 10


def test_generate_dataset(tmp_path):
    paths = synth.generate_dataset(tmp_path / "a", 6, seed=5, size_range=(120, 200))
    assert len(paths) == 6 and {p.suffix for p in paths} == {".jpg", ".png"}
    sizes = set()
    for p in paths:
        assert p.exists()
        lines = p.with_suffix(".txt").read_text().splitlines()
        assert len(lines) == 106
        pts = np.array([[float(v) for v in ln.split()] for ln in lines])
        assert pts.shape == (106, 2)
        img = read_image(p)
        h, w = img.shape[:2]
        assert 120 <= w <= 200 and 120 <= h <= 200
        sizes.add((w, h))
        assert np.mean((pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)) > 0.5
    assert any(w != h for w, h in sizes)
    # deterministic in seed, labels_dir honoured, only images + labels written
    again = synth.generate_dataset(tmp_path / "b", 2, seed=5, size_range=(120, 200), exts=("png",),
                                   labels_dir=tmp_path / "labels")
    assert [p.name for p in again] == ["synth_00000.png", "synth_00001.png"]
    assert (tmp_path / "labels" / "synth_00001.txt").read_text() == (tmp_path / "a" / "synth_00001.txt").read_text()
    assert sorted(f.name for f in (tmp_path / "b").iterdir()) == ["synth_00000.png", "synth_00001.png"]
    # the PNG copy of image 1 is pixel-identical to the PNG written the first time
    np.testing.assert_array_equal(read_image(again[1]), read_image(paths[1]))
