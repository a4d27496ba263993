"""Flip test-time augmentation on a mirrored input, flip maps of the 68/98 layouts point by point,
and metrics (NME, AUC, failure rate) against values computed by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pipnet106.config import Config
from pipnet106.models.decode import Decoder
from pipnet106.train.evaluate import auc_fr, format_report, nme, predict_loader, report
from pipnet106.layout import get_layout
from pipnet106.data.meanface import neighbors, reverse_index
from pipnet106.models import build_model
from pipnet106.synth.faces import template


# ---------------------------------------------------------------- flip TTA

@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = Config(input_size=64, backbone="mobilenet_v2", width=320, net_stride=32, num_nb=10)
    layout = get_layout(cfg.layout)
    nb = neighbors(template(), cfg.num_nb)
    model = build_model(cfg, warn_scratch=False)
    # random heads give near-constant maps; make them input-dependent so left and right differ
    for p in model.parameters():
        if p.dim() > 1:
            torch.nn.init.normal_(p, std=0.05)
    return model.eval(), Decoder(reverse_index(nb), cfg.num_nb), layout


def _predict(tiny, x: torch.Tensor, flip: bool) -> np.ndarray:
    model, decoder, layout = tiny
    loader = [(x, {"points": torch.zeros(len(x), layout.num_points, 2)})]
    pts, _, _ = predict_loader(model, decoder, loader, torch.device("cpu"), layout, flip=flip)
    return pts


def test_flip_tta_on_mirrored_input_is_the_mirrored_prediction(tiny):
    """TTA(mirror(x)) == mirror(TTA(x)) with labels swapped: holds for any network when the TTA
    mirrors x as cv2.flip does (x -> 1 - x) and swaps left/right by the layout's flip map."""
    layout = tiny[2]
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 3, 64, 64, generator=g)
    mirrored = torch.flip(x, dims=[3])
    plain = _predict(tiny, x, flip=False)
    tta = _predict(tiny, x, flip=True)
    tta_m = _predict(tiny, mirrored, flip=True)
    np.testing.assert_allclose(layout.mirror_points(tta_m, 1.0), tta, atol=1e-5)
    # and the check has teeth: without TTA the network alone is far from equivariant
    plain_m = _predict(tiny, mirrored, flip=False)
    assert np.abs(layout.mirror_points(plain_m, 1.0) - plain).max() > 1e-2
    assert np.abs(tta - plain).max() > 1e-3


# ---------------------------------------------------------------- flip maps of 68 and 98

# Points on the face's vertical axis (from the 300W and WFLW annotation schemes): exactly these map
# to themselves.
AXIS = {
    "ibug68": {8, 27, 28, 29, 30, 33, 51, 57, 62, 66},
    "wflw98": {16, 51, 52, 53, 54, 57, 79, 85, 90, 94},
}
# Named left/right pairs, as (image-left, image-right).
PAIRS = {
    "ibug68": {"jaw ends": (0, 16), "brow outer ends": (17, 26), "brow inner ends": (21, 22),
               "outer eye corners": (36, 45), "inner eye corners": (39, 42), "nostril wings": (31, 35),
               "mouth corners": (48, 54), "inner mouth corners": (60, 64), "lower eyelids": (41, 46)},
    "wflw98": {"jaw ends": (0, 32), "brow outer ends": (33, 46), "brow inner ends": (37, 42),
               "outer eye corners": (60, 72), "inner eye corners": (64, 68), "nostril wings": (55, 59),
               "mouth corners": (76, 82), "inner mouth corners": (88, 92), "pupils": (96, 97),
               "lower eyelids": (66, 74)},
}


@pytest.mark.parametrize("name", ["ibug68", "wflw98"])
def test_flip_map_axis_points_and_named_pairs(name):
    lay = get_layout(name)
    fixed = {i for i in range(lay.num_points) if lay.flip[i] == i}
    assert fixed == AXIS[name]
    for what, (a, b) in PAIRS[name].items():
        assert (lay.flip[a], lay.flip[b]) == (b, a), what
    # contour runs from one ear to the other: contour point k mirrors to point (last - k)
    contour = lay.region_index("contour")
    assert lay.flip_index[contour].tolist() == contour[::-1].tolist()


@pytest.mark.parametrize("name", ["ibug68", "wflw98"])
def test_mirror_points_moves_each_point_onto_its_partner(name):
    """A symmetric shape (pairs at x and W - x, axis points at W/2) is unchanged by mirror_points."""
    lay = get_layout(name)
    rng = np.random.default_rng(0)
    w = 200.0
    pts = np.full((lay.num_points, 2), np.nan)
    for i in range(lay.num_points):
        j = lay.flip[i]
        if np.isnan(pts[i, 0]):
            x, y = rng.uniform(5, 95), rng.uniform(0, 200)
            pts[i] = (w / 2, y) if i == j else (x, y)
            pts[j] = (w / 2, y) if i == j else (w - x, y)
    np.testing.assert_allclose(lay.mirror_points(pts, w), pts)
    # mirroring twice is the identity; mirroring without the label swap is not the same shape
    np.testing.assert_allclose(lay.mirror_points(lay.mirror_points(pts, w), w), pts)
    plain = pts.copy()
    plain[:, 0] = w - plain[:, 0]
    assert np.abs(plain - pts).max() > 50


# ---------------------------------------------------------------- metrics by hand

def test_nme_by_hand():
    lay = get_layout("lapa106")
    gt = np.zeros((1, 106, 2))
    gt[0, :, 0] = np.linspace(0, 100, 106)
    gt[0, 66], gt[0, 79] = (20.0, 50.0), (80.0, 50.0)   # outer eye corners 60 px apart
    pred = gt + np.array([3.0, 4.0])                     # every point 5 px off
    assert nme(pred, gt, lay)[0] == pytest.approx(5.0 / 60.0)
    pred[0, 10] = np.nan                                 # not counted twice, not NaN
    gt2 = gt.copy()
    gt2[0, 10] = np.nan                                  # missing ground truth: ignored
    assert nme(gt + np.array([3.0, 4.0]), gt2, lay)[0] == pytest.approx(5.0 / 60.0)


def test_region_nme_counts_only_the_faces_that_label_the_region():
    # imported 300-W labels have no contour: its NME is "not labelled", never a perfect 0, and a
    # region labelled on some faces is the mean over those faces only
    lay = get_layout("lapa106")
    gt = np.zeros((2, 106, 2))
    gt[:, :, 0] = np.linspace(0, 100, 106)
    gt[:, 66], gt[:, 79] = (20.0, 50.0), (80.0, 50.0)
    pred = gt + np.array([3.0, 4.0])
    pred[1] += np.array([3.0, 4.0])                      # face 1: 10 px off
    gt[:, :33] = np.nan                                   # no contour anywhere
    gt[1, 84:104] = np.nan                                # mouth on face 0 only
    rep = report(pred, gt, lay)
    assert rep["regions"]["contour"] is None
    assert rep["regions"]["mouth"] == pytest.approx(5.0 / 60.0)
    assert rep["regions"]["eyes"] == pytest.approx(7.5 / 60.0)
    assert "contour  not labelled" in format_report(rep)


@pytest.mark.parametrize("nmes, auc, fr", [
    # CED: 0 below 0.02, 1/4 to 0.05, 1/2 to 0.10; area (0.25*0.03 + 0.5*0.05) / 0.10 = 0.325.
    # 0.10 itself is not a failure (failure = NME > threshold).
    ([0.02, 0.05, 0.10, 0.12], 0.325, 0.25),
    # (0.25*0.03 + 0.5*0.03 + 0.75*0.02) / 0.10 = 0.375
    ([0.08, 0.05, 0.02, 0.30], 0.375, 0.25),
    ([0.0, 0.0], 1.0, 0.0),
    ([0.2, 0.5, 1.0], 0.0, 1.0),
])
def test_auc_and_failure_rate_by_hand(nmes, auc, fr):
    got_auc, got_fr = auc_fr(np.array(nmes), 0.10)
    assert got_fr == pytest.approx(fr)
    assert got_auc == pytest.approx(auc, abs=1e-3)  # 1001-point trapezoid: each CED step costs ~1e-4


def test_auc_threshold_scales():
    """At threshold 0.2 the same errors: CED 1/4 on [0.02,0.05), 1/2 on [0.05,0.10), 3/4 on [0.10,0.12), 1 after."""
    got_auc, got_fr = auc_fr(np.array([0.02, 0.05, 0.10, 0.12]), 0.20)
    assert got_fr == 0.0
    assert got_auc == pytest.approx((0.25 * 0.03 + 0.5 * 0.05 + 0.75 * 0.02 + 1.0 * 0.08) / 0.20, abs=1e-3)
