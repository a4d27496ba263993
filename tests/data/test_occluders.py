"""Occluders say exactly which points they cover, and the shape augmentation moves labels with the photo."""
import numpy as np
import pytest

from pipnet106.config import Config
from pipnet106.constants import OCCLUDER_KINDS
from pipnet106.data import occluders
from pipnet106.data.augment import Augmenter, reshape_face
from pipnet106.errors import UserError
from pipnet106.layout import LAPA106
from pipnet106.synth.faces import render_face

SIZE = 160


@pytest.mark.parametrize("kind", OCCLUDER_KINDS)
def test_a_point_is_hidden_exactly_where_the_occluder_covers_it(kind):
    hidden_any = False
    for seed in range(6):
        img, pts = render_face(np.random.default_rng(seed), SIZE, SIZE, max_yaw=15, photometric=False)
        out, vis, got = occluders.occlude(img, pts, np.random.default_rng(100 + seed), (kind,))
        assert got == kind and vis.dtype == bool and vis.shape == (106,)
        changed = np.abs(out.astype(int) - img.astype(int)).sum(2) > 0
        # the 2x2 pixels a point's opacity is read from (bilinear at its position)
        i0 = np.clip(np.floor(pts - 0.5).astype(int), 0, SIZE - 2)
        near = np.stack([changed[i0[:, 1] + dy, i0[:, 0] + dx] for dy in (0, 1) for dx in (0, 1)], axis=1)
        # a point called hidden sits on changed pixels; where nothing around a point changed, it is visible
        assert near[~vis].any(axis=1).all()
        assert vis[~near.any(axis=1)].all()
        hidden_any |= bool((~vis).any())
    assert hidden_any, f"{kind} never covered a point in six draws"


def test_visible_points_reads_the_opacity_at_each_point():
    alpha = np.zeros((10, 10), np.float32)
    alpha[:, 5:] = 1.0
    pts = np.array([[2.5, 5.0], [7.5, 5.0], [11.0, 5.0], [np.nan, 1.0]])
    assert occluders.visible_points(pts, alpha).tolist() == [True, False, False, False]


def test_occluder_kinds_are_checked():
    assert Augmenter(Config(occluders="all"), LAPA106).occluders == OCCLUDER_KINDS
    with pytest.raises(UserError, match="bogus"):
        Augmenter(Config(occluders="hand,bogus"), LAPA106)


def test_shape_augmentation_leaves_partly_labelled_faces_alone():
    img, pts = render_face(np.random.default_rng(1), SIZE, SIZE)
    mask = np.ones(106, bool)
    mask[104] = False
    out, moved, values = reshape_face(img, pts, mask, np.random.default_rng(0))
    assert values is None and out is img and moved is pts
