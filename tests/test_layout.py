"""Layouts (flip maps, regions, normalization) and the mean face / neighbour tables."""
from __future__ import annotations

import numpy as np
import pytest

from pipnet106.config import load_config
from pipnet106.errors import UserError
from pipnet106.layout import LAYOUTS, get_layout
from pipnet106.data.meanface import compute_meanface, load_meanface, neighbors, reverse_index, save_meanface
from pipnet106.synth.faces import render_face


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_flip_is_an_involution_and_regions_cover(name):
    lay = LAYOUTS[name]
    flip = lay.flip_index
    assert np.array_equal(flip[flip], np.arange(lay.num_points))
    assert sorted(np.concatenate([lay.region_index(r) for r in lay.regions]).tolist()) == list(range(lay.num_points))
    # left regions map onto right regions
    for left, right in [p for p in (("left_eye", "right_eye"), ("left_brow", "right_brow")) if p[0] in lay.regions]:
        assert sorted(flip[lay.region_index(left)].tolist()) == sorted(lay.region_index(right).tolist())


def test_lapa106_axis_points_map_to_themselves():
    lay = get_layout("106")
    for i in (16, 51, 52, 53, 54, 60, 87, 93, 98, 102):
        assert lay.flip[i] == i
    assert lay.flip[66] == 79 and lay.flip[104] == 105


def test_mirrored_mean_face_is_the_mean_face():
    """Mean of many synthetic faces, mirrored and re-indexed, comes back (a flip without the swap does not)."""
    rng = np.random.default_rng(0)
    shapes = np.stack([render_face(rng, 200, 200, max_roll=20)[1] for _ in range(150)]) / 200.0
    mf = compute_meanface(shapes)
    lay = get_layout("lapa106")
    mirrored = lay.mirror_points(mf, 1.0)
    iod = lay.norm_distance(mf)
    assert np.abs(mirrored - mf).max() / iod < 0.06
    unswapped = mf.copy()
    unswapped[:, 0] = 1.0 - unswapped[:, 0]
    assert np.abs(unswapped - mf).max() / iod > 0.5


def test_norm_distances():
    lay = get_layout("lapa106")
    pts = np.zeros((106, 2))
    pts[66], pts[79] = (10, 0), (50, 0)
    pts[104], pts[105] = (20, 0), (40, 0)
    pts[:, 1] += np.linspace(0, 90, 106)
    assert lay.norm_distance(pts, "outer_eye") == pytest.approx(np.hypot(40, pts[79, 1] - pts[66, 1]))
    assert lay.norm_distance(pts, "pupil") == pytest.approx(np.hypot(20, pts[105, 1] - pts[104, 1]))
    assert lay.norm_distance(pts, "bbox") == pytest.approx(np.sqrt(50 * 90))
    with pytest.raises(ValueError):
        lay.norm_distance(pts, "nose")


def test_unknown_layout_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown layout"):
        get_layout("lapa105")
    with pytest.raises(UserError, match="unknown layout"):
        load_config(None, ["layout=foo"])


def test_neighbors_on_a_hand_made_shape():
    """Points on a line at 0, 1, 3, 6, 10: the nearest neighbours are known by hand."""
    shape = np.array([[0, 0], [1, 0], [3, 0], [6, 0], [10, 0]], dtype=float)
    nb = neighbors(shape, 2)
    assert nb.tolist() == [[1, 2], [0, 2], [1, 0], [2, 4], [3, 2]]
    rev = reverse_index(nb)
    # who predicts landmark 2? 0 (slot 1), 1 (slot 1), 3 (slot 0), 4 (slot 1)
    got = sorted((int(i), int(s)) for i, s, m in zip(rev.idx[2], rev.slot[2], rev.mask[2]) if m)
    assert got == [(0, 1), (1, 1), (3, 0), (4, 1)]
    # landmark 3 is predicted only by 4 (slot 0); the rest of its row is padding
    assert rev.mask[3].sum() == 1 and (rev.idx[3][rev.mask[3]], rev.slot[3][rev.mask[3]]) == ([4], [0])
    # every (owner, slot) pair appears exactly once across the table
    pairs = {(int(i), int(s)) for row_i, row_s, row_m in zip(rev.idx, rev.slot, rev.mask)
             for i, s, m in zip(row_i, row_s, row_m) if m}
    assert pairs == {(o, k) for o in range(5) for k in range(2)}


def test_neighbors_are_deterministic_and_exclude_self():
    rng = np.random.default_rng(1)
    mf = rng.random((106, 2))
    a, b = neighbors(mf, 10), neighbors(mf, 10)
    assert np.array_equal(a, b)
    assert not (a == np.arange(106)[:, None]).any()
    with pytest.raises(UserError):
        neighbors(mf[:5], 10)


def test_meanface_ignores_masked_points_and_round_trips(tmp_path):
    shapes = np.array([[[0, 0], [2, 2]], [[2, 2], [np.nan, np.nan]]], dtype=float)
    mf = compute_meanface(shapes)
    assert mf.tolist() == [[1, 1], [2, 2]]
    save_meanface(tmp_path / "mf.txt", mf)
    assert np.allclose(load_meanface(tmp_path / "mf.txt", 2), mf)
    with pytest.raises(UserError, match="layout has 106"):
        load_meanface(tmp_path / "mf.txt", 106)
