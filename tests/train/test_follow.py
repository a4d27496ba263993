"""The follow metric, checked on landmarkers whose answer is known: one that returns the true points
of whatever photo it is shown follows everything (1), one that always returns the same shape in the
face's box follows nothing the box does not (about 0 for the eyes), and the shipped model sits between."""
import hashlib
from pathlib import Path

import numpy as np
import pytest

from pipnet106.face3d import template
from pipnet106.synth.faces import render_face
from pipnet106.train import follow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

SIZE = 256


def _faces(n: int):
    out = []
    for seed in range(n):
        img, pts = render_face(np.random.default_rng(seed), SIZE, SIZE, max_yaw=10, max_roll=10, scale_range=(0.6, 0.7))
        out.append((img, pts))
    return out


class Oracle:
    """Knows the true points of every photo it may be shown (the originals and their warps)."""

    def __init__(self, faces, changes):
        self.truth = {}
        for img, pts in faces:
            self.truth[hashlib.sha1(img.tobytes()).hexdigest()] = pts
            for c in changes:
                w = follow.warp_face(img, pts, c)
                if w is not None:
                    self.truth[hashlib.sha1(w[0].tobytes()).hexdigest()] = w[1]

    def landmarks_for_boxes(self, image, boxes):
        return [self.truth[hashlib.sha1(image.tobytes()).hexdigest()]], np.ones((1, 106))


class MeanShape:
    """The template face stretched over the box it is given: moves only when the box moves."""

    def landmarks_for_boxes(self, image, boxes):
        t = template()
        x0, y0, x1, y1 = boxes[0]
        unit = (t - t.min(0)) / np.ptp(t, 0)
        return [np.array([x0, y0]) + unit * np.array([x1 - x0, y1 - y0])], np.ones((1, 106))


def test_an_oracle_follows_every_change_exactly():
    faces = _faces(4)
    rep = follow.measure_follow(Oracle(faces, follow.CHANGES), faces)
    assert rep["faces"] == 4
    for name, c in rep["changes"].items():
        assert c["follow"] == pytest.approx(1.0, abs=1e-9), name
        assert c["nme_warped"] < 1e-9 and c["faces"] == 4
    assert all(v == pytest.approx(1.0) for v in rep["slopes"].values())


def test_a_mean_shape_does_not_follow_the_eyes():
    faces = _faces(4)
    rep = follow.measure_follow(MeanShape(), faces)
    for part in ("eyes", "eyes_unseen_warp"):
        assert abs(rep["parts"][part]) < 0.05, rep["parts"]
    assert "follow" in follow.format_follow(rep)


def test_every_change_moves_its_measure_the_stated_way():
    img, pts = _faces(1)[0]
    signs = {"eyes_smaller": -1, "jaw_narrower": -1}
    for c in follow.CHANGES:
        _, moved = follow.warp_face(img, pts, c)
        delta = follow.MEASURES[c.measure](moved) - follow.MEASURES[c.measure](pts)
        assert np.sign(delta) == signs.get(c.name, 1) and abs(delta) > 0.5, (c.name, delta)


@pytest.mark.torch
def test_eval_follow_writes_its_report(tmp_path, capsys):
    import json

    from pipnet106.cli import main
    from pipnet106.data.prepare import prepare
    from pipnet106.synth.faces import generate_dataset

    generate_dataset(tmp_path / "src", 4, seed=3, size_range=(220, 260))
    prepare(tmp_path / "src", tmp_path / "prep", size=192, crop="face", test_frac=0.75, workers=0, progress=False,
            verbose=False)
    assert main(["eval", "--weights", "starter", "--data", str(tmp_path / "prep"), "--out", str(tmp_path / "ev"),
                 "--follow", "--follow-faces", "2", "--worst", "0"]) == 0
    rep = json.loads((tmp_path / "ev" / "follow.json").read_text())
    assert rep["faces"] == 2 and set(rep["parts"]) >= {"eyes", "mouth", "eyes_unseen_warp"}
    assert "follow on 2 faces" in capsys.readouterr().out


# The shipped starter's follow on the shipped group photo (4 faces, its own points as the labels the
# warps are built on). Measured for v2: eyes 0.20 (enlarge 0.13, shrink 0.19, open 0.28), the lens
# (a warp training never used) 0.12, mouth 0.42, brows 0.84. The floors sit about half-way down,
# so a model that falls back toward the mean shape fails here; raise them when a better starter ships.
SHIPPED_FLOORS = {"eyes": 0.10, "eyes_unseen_warp": 0.06, "mouth": 0.25, "brows": 0.4}


def test_the_shipped_model_follows_at_least_as_far_as_it_did(lm):
    from pipnet106.fileio import read_image

    image = read_image(FIXTURES / "group4.jpg")
    faces = lm.predict(image)
    assert len(faces) == 4
    rep = follow.measure_follow(lm, [(image, f.points) for f in faces])
    got = {k: round(rep["parts"][k], 3) for k in SHIPPED_FLOORS}
    assert all(got[k] >= v for k, v in SHIPPED_FLOORS.items()), got


def test_the_shipped_part_models_follow_the_eyes_and_mouth(lm):
    """`--parts starter` (the shipped eye and mouth models, `constants.STARTER_PARTS`) on the same
    photo: eye follow 0.79 (enlarge 0.78, shrink 0.65, open 0.95), the lens 0.75 and the mouth 0.90
    (wider 0.93, opened 0.85, lips 0.92), against 0.20, 0.12 and 0.42 without them (the part models
    before `part_box_lag`: 0.62, 0.57, 0.87; the first ones, 48 and 64 px: 0.57, 0.49, 0.76); the
    floors sit at about three quarters."""
    from pipnet106 import Landmarker
    from pipnet106.fileio import read_image
    from pipnet106.infer.backends import load_parts

    image = read_image(FIXTURES / "group4.jpg")
    faces = lm.predict(image)
    with Landmarker.default(parts=load_parts(["starter"])) as fine:
        rep = follow.measure_follow(fine, [(image, f.points) for f in faces], follow.CHANGES[:7])
    got = {k: round(rep["parts"][k], 3) for k in ("eyes", "eyes_unseen_warp", "mouth")}
    assert got["eyes"] >= 0.59 and got["eyes_unseen_warp"] >= 0.56 and got["mouth"] >= 0.67, got
