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


def test_draw_faces_shows_a_faces_occluded_points_hollow():
    """draw_faces passes Face.visibility on: with the mouth's points occluded, the pixel under each of
    them is no longer the filled dot's colour; without visibility the drawing is unchanged."""
    from pipnet106.infer.landmarker import Face
    from pipnet106.layout import LAPA106
    from pipnet106.synth.faces import template

    from pipnet106.draw import draw_faces

    pts = (template() - template().min(0)) * 300 + 50
    img = np.zeros((420, 420, 3), np.uint8)
    box = np.r_[pts.min(0), pts.max(0)]
    mouth = LAPA106.region_index("mouth_outer")
    vis = np.ones(106)
    vis[mouth] = 0.0
    plain = draw_faces(img, [Face(box, 1.0, pts, np.ones(106), LAPA106)])
    hidden = draw_faces(img, [Face(box, 1.0, pts, np.ones(106), LAPA106, visibility=vis)])
    assert np.array_equal(plain, draw_faces(img, [Face(box, 1.0, pts, np.ones(106), LAPA106, visibility=np.ones(106))]))
    x, y = np.floor(pts[mouth]).astype(int).T
    assert (np.abs(plain[y, x].astype(int) - hidden[y, x]).sum(1) > 0).all()
    eyes = LAPA106.region_index("left_eye")
    xe, ye = np.floor(pts[eyes]).astype(int).T
    assert np.array_equal(plain[ye, xe], hidden[ye, xe])
