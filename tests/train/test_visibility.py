"""The visibility measure, on landmarkers whose answer is known: one that knows the pasted
occluder's mask exactly scores recall 1 and no false occlusions, one that calls every point
visible scores recall 0; a model without the output is reported, not crashed on."""
import numpy as np
import pytest

from pipnet106.data import occluders
from pipnet106.synth.faces import render_face
from pipnet106.train.visibility import format_visibility, logit_shift, measure_visibility, roc_auc, summarise


def _faces(n=3):
    rng = np.random.default_rng(0)
    return [(img, pts.astype(np.float64)) for img, pts in (render_face(rng, 256, 256, max_yaw=15) for _ in range(n))]


class _Oracle:
    """Knows the mask of the occluder the measure pastes next (the same seeded stream)."""

    def __init__(self, seed, kinds, faces, per_face):
        rng = np.random.default_rng(seed)
        self.truth = []
        for image, labels in faces:
            for _ in range(per_face):
                _, visible, _ = occluders.occlude(image.copy(), labels, rng, kinds, other=image[::-1, ::-1].copy())
                self.truth.append(visible)

    def landmarks_for_boxes(self, image, boxes, visibility=False):
        vis = self.truth.pop(0).astype(np.float32)[None]
        return np.zeros((1, 106, 2)), np.ones((1, 106)), vis


class _AllVisible:
    def landmarks_for_boxes(self, image, boxes, visibility=False):
        return np.zeros((1, 106, 2)), np.ones((1, 106)), np.ones((1, 106), np.float32)


class _NoOutput:
    def landmarks_for_boxes(self, image, boxes, visibility=False):
        return np.zeros((1, 106, 2)), np.ones((1, 106)), None


def test_an_oracle_scores_perfectly_and_a_blind_model_scores_zero():
    faces, kinds = _faces(), ("hand", "mask", "glasses", "box")
    rep = measure_visibility(_Oracle(7, kinds, faces, 2), faces, seed=7, kinds=kinds, per_face=2)
    allr = rep["regions"]["all"]
    assert rep["copies"] == 6 and allr["covered_points"] > 10            # the occluders did cover points
    assert allr["recall"] == 1.0 and allr["false_occluded"] == 0.0
    blind = measure_visibility(_AllVisible(), faces, seed=7, kinds=kinds, per_face=2)["regions"]["all"]
    assert blind["recall"] == 0.0 and blind["false_occluded"] == 0.0
    assert rep["auc"] == 1.0 and "recall" in format_visibility(rep) and "AUC" in format_visibility(rep)


def test_a_model_without_visibility_is_reported():
    rep = measure_visibility(_NoOutput(), _faces(1))
    assert "no visibility output" in format_visibility(rep)


def test_rates_per_region_count_the_right_points():
    covered = np.zeros((2, 106), bool)
    flagged = np.zeros((2, 106), bool)
    covered[0, 84:104] = True          # a mouth covered on one copy
    flagged[0, 84:94] = True           # half of it found
    flagged[1, 0] = True               # one contour point called covered by mistake
    rep = summarise(covered, flagged, 2, 0.5)["regions"]
    assert rep["mouth"]["recall"] == pytest.approx(0.5) and rep["mouth"]["false_occluded"] == 0.0
    assert rep["contour"]["false_occluded"] == pytest.approx(1 / 66) and np.isnan(rep["contour"]["recall"])


def test_auc_is_the_share_of_correctly_ordered_pairs():
    rng = np.random.default_rng(3)
    pos = rng.random(300) < 0.3
    score = np.round(rng.normal(pos * 0.8, 1.0), 1)      # rounded: many ties
    pairs = score[pos][:, None] - score[~pos][None, :]
    brute = ((pairs > 0).sum() + 0.5 * (pairs == 0).sum()) / pairs.size
    assert roc_auc(pos, score) == pytest.approx(brute, abs=1e-12)
    assert roc_auc(pos, np.where(pos, 1.0, 0.0)) == 1.0 and roc_auc(pos, np.zeros(300)) == 0.5


def test_logit_shift_puts_the_chosen_share_of_uncovered_points_below_one_half():
    rng = np.random.default_rng(4)
    covered = rng.random((50, 106)) < 0.1
    logits = rng.normal(np.where(covered, 0.5, 2.5), 1.0)      # a cautious head: covered points mostly above 0
    scores = 1 / (1 + np.exp(-logits))
    shift = logit_shift(covered, scores, 0.03)
    after = 1 / (1 + np.exp(-(logits + shift)))
    assert (after[~covered] < 0.5).mean() == pytest.approx(0.03, abs=0.002)
    assert (after[covered] < 0.5).mean() > (scores[covered] < 0.5).mean() + 0.2   # more covered points found


def test_the_shipped_starter_finds_covered_points_on_the_shipped_photo(lm):
    """The starter's visibility output on the group photo's four faces, each with eight occluders of
    every kind pasted: measured recall 0.74 (mouth 0.95), false-occluded 5.4%, AUC 0.95; the floors
    sit well below. On the photo as it is no point reads covered, so its retouch is exactly the
    retouch without visibility."""
    from pathlib import Path

    from pipnet106.constants import VISIBLE_MIN
    from pipnet106.fileio import read_image

    image = read_image(Path(__file__).resolve().parents[1] / "fixtures" / "group4.jpg")
    faces = lm.predict(image)
    assert len(faces) == 4 and all(f.visibility is not None and f.visibility.min() >= VISIBLE_MIN for f in faces)
    rep = measure_visibility(lm, [(image, f.points) for f in faces], per_face=8)
    r = rep["regions"]
    assert rep["auc"] > 0.88 and r["all"]["recall"] > 0.55 and r["mouth"]["recall"] > 0.8, rep
    assert r["all"]["false_occluded"] < 0.10, rep
