"""Refinement skip: `crop.crop_change` is exact, and `Landmarker(refine_tol=...)` re-runs only faces whose
training crop moved more than the tolerance."""
from __future__ import annotations

import numpy as np
import pytest

from pipnet106.crop import box_transform, crop_change
from pipnet106.layout import get_layout
from pipnet106.infer.landmarker import Landmarker
from pipnet106.synth.faces import template


def test_crop_change_is_exact():
    a = box_transform(np.array([100.0, 50.0, 300.0, 250.0]), 128)   # side 200, centre (200, 150)
    assert crop_change(a, a) == 0.0
    b = box_transform(np.array([110.0, 50.0, 310.0, 250.0]), 128)   # centre +10 px
    assert crop_change(a, b) == pytest.approx(10 / 200)
    c = box_transform(np.array([90.0, 40.0, 310.0, 260.0]), 128)    # same centre, side 220
    assert crop_change(a, c) == pytest.approx(0.1)
    d = box_transform(np.array([100.0, 50.0, 300.0, 250.0]), 64)    # another crop size, same region
    assert crop_change(a, d) == pytest.approx(0.0, abs=1e-12)


class FakeBackend:
    """Returns the mean face, shifted by `shift` (fraction of the crop) on every call; counts faces seen."""

    def __init__(self, shift: float) -> None:
        self.layout = get_layout("lapa106")
        self.input_size, self.enlarge, self.name = 128, 1.25, "fake"
        self.shift, self.faces = shift, 0
        mf = template()
        lo, hi = mf.min(0), mf.max(0)
        # the training crop rule: landmark box (square, enlarged 1.25) fills the crop
        self.points = ((mf - (lo + hi) / 2) / (hi - lo).max() / 1.25 + 0.5).astype(np.float32)

    def __call__(self, crops):
        self.faces += len(crops)
        b = len(crops)
        pts = np.repeat(self.points[None] + self.shift, b, axis=0)
        return pts, np.full((b, len(self.points)), 0.9, np.float32)


@pytest.mark.parametrize("shift, tol, expect_second_pass", [(0.0, 0.02, False), (0.05, 0.02, True),
                                                            (0.05, 0.0, True), (0.05, 0.1, False)])
def test_skip_only_faces_whose_crop_agrees(shift, tol, expect_second_pass):
    be = FakeBackend(shift)
    lm = Landmarker(be, detector=None, refine=1, refine_tol=tol)
    image = np.zeros((400, 400, 3), np.uint8)
    boxes = np.array([[100.0, 100.0, 260.0, 260.0]])
    pts, conf = lm.landmarks_for_boxes(image, boxes)
    assert be.faces == (2 if expect_second_pass else 1)
    one, _ = Landmarker(FakeBackend(shift), detector=None, refine=0).landmarks_for_boxes(image, boxes)
    if expect_second_pass:
        assert not np.allclose(pts[0], one[0])
    else:
        np.testing.assert_array_equal(pts[0], one[0])


def test_mixed_batch_reruns_only_the_moved_face():
    class TwoFaces(FakeBackend):
        """First pass over two faces: the second face's points come out 5% off its crop."""

        def __call__(self, crops):
            pts, conf = super().__call__(crops)
            if len(crops) == 2:
                pts[1] += 0.05
            return pts, conf

    be = TwoFaces(0.0)
    lm = Landmarker(be, detector=None, refine=1, refine_tol=0.02)
    image = np.zeros((600, 600, 3), np.uint8)
    boxes = np.array([[100.0, 100.0, 260.0, 260.0], [300.0, 300.0, 460.0, 460.0]])
    pts, _ = lm.landmarks_for_boxes(image, boxes)
    assert be.faces == 3  # two first passes + one refinement, for the second face only
    one, _ = Landmarker(FakeBackend(0.0), detector=None, refine=0).landmarks_for_boxes(image, boxes[:1])
    np.testing.assert_array_equal(pts[0], one[0])
