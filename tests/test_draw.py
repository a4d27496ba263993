"""draw: occluded points (per-point visibility below VISIBLE_MIN) are drawn hollow, visible ones filled."""
from __future__ import annotations

import numpy as np

from pipnet106.draw import VISIBLE_MIN, draw_points


def test_occluded_points_are_hollow_visible_ones_filled():
    img = np.zeros((60, 120, 3), np.uint8)
    pts = np.array([[30.0, 30.0], [90.0, 30.0]])
    vis = np.array([1.0, VISIBLE_MIN - 0.1])
    out = draw_points(img, pts, color=(0, 255, 0), radius=8, visibility=vis)
    g = out[..., 1].astype(int)
    assert g[30, 30] > 200, "a visible point is a filled disc"
    assert g[30, 90] < 30 and g[30, 90 + 8] > 100, "an occluded point is a ring: empty centre, drawn edge"
    assert np.array_equal(draw_points(img, pts, color=(0, 255, 0), radius=8),
                          draw_points(img, pts, color=(0, 255, 0), radius=8, visibility=None))
    assert np.array_equal(draw_points(img, pts, color=(0, 255, 0), radius=8, visibility=np.ones(2)),
                          draw_points(img, pts, color=(0, 255, 0), radius=8))
    assert not img.any(), "the input is never drawn on"
