"""The local stage: part crops at inference are the crops the part models trained on (a right eye
mirrored into a left one), part models travel with their face model's export, their terms too."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")  # the modules below import it (the torch-free suite skips this file)

from pipnet106.crop import crop_from_points
from pipnet106.data.parts import mirror_points
from pipnet106.infer.parts import PartRefiner
from pipnet106.layout import LAPA106_EYE, LAPA106_MOUTH, PARTS
from pipnet106.synth.faces import render_face


class Replay:
    """A part backend that answers each crop with the points the training path computes for it
    (`data.parts`: crop from the points, mirror the crop of a mirrored part): refining with it
    must give every point back exactly if inference crops and maps back like training."""

    def __init__(self, spec, faces, size=48, enlarge=1.8):
        self.layout, self.input_size, self.enlarge, self.path = spec.layout, size, enlarge, "replay"
        self.answers = []
        for p in faces:
            for idx, mirrored in spec.instances():
                q = crop_from_points(p[list(idx)], size, enlarge).to_crop(p[list(idx)])
                self.answers.append((mirror_points(q, size) if mirrored else q) / size)
        self.shapes = []

    def predict(self, crops):
        self.shapes.append(crops.shape)
        n = len(crops)
        pts, self.answers = np.stack(self.answers[:n]), self.answers[n:]
        return pts, np.full(pts.shape[:2], 0.9, np.float32), np.full(pts.shape[:2], 0.7, np.float32)


def test_parts_map_back_exactly_like_training_cut_them():
    faces, image = [], None
    for seed in range(3):
        img, pts = render_face(np.random.default_rng(seed), 240, 240, max_yaw=20, max_roll=25)
        faces.append(pts)
        image = img
    eye, mouth = Replay(PARTS["eye"], faces), Replay(PARTS["mouth"], faces, size=64, enlarge=1.4)
    ref = PartRefiner([eye, mouth])
    conf = np.full((3, 106), 0.5, np.float32)
    out, c, v = ref.refine(image, [f.copy() for f in faces], conf, np.ones((3, 106), np.float32))
    for a, b in zip(out, faces):
        np.testing.assert_allclose(a, b, atol=1e-9)
    assert eye.shapes == [(6, 48, 48, 3)] and mouth.shapes == [(3, 64, 64, 3)]   # one batch per part
    touched = np.r_[66:84, 84:106]
    assert (c[:, touched] == 0.9).all() and (c[:, :66] == 0.5).all() and (v[:, touched] == 0.7).all()


def test_a_part_layout_is_a_part():
    from pipnet106.errors import UserError

    class NotAPart:
        layout, path = PARTS["eye"].layout, "x"

    PartRefiner([NotAPart()])
    NotAPart.layout = __import__("pipnet106.layout", fromlist=["LAPA106"]).LAPA106
    with pytest.raises(UserError, match="not a part"):
        PartRefiner([NotAPart()])
    assert LAPA106_EYE.num_points == len(PARTS["eye"].points) and LAPA106_MOUTH.num_points == 20


@pytest.mark.torch
def test_part_models_travel_with_the_face_export(tmp_path):
    pytest.importorskip("onnx")
    import torch

    from pipnet106.config import Config
    from pipnet106.data.meanface import neighbors
    from pipnet106.deploy.export import export_checkpoint
    from pipnet106.errors import UserError
    from pipnet106.fileio import atomic_torch_save
    from pipnet106.infer.landmarker import Landmarker
    from pipnet106.models import build_model
    from pipnet106.models.checkpoint import make_checkpoint
    from pipnet106.models.pipnet import lifelike_init_
    from pipnet106.synth import faces as synth

    def save(name, mf, **kw):
        cfg = Config.from_dict(kw)
        torch.manual_seed(0)
        m = build_model(cfg, warn_scratch=False)
        lifelike_init_(m, cfg.input_size)
        atomic_torch_save(tmp_path / f"{name}.pt", make_checkpoint(m, cfg, mf, neighbors(mf, cfg.num_nb)))
        return tmp_path / f"{name}.pt"

    mf = synth.template()
    face = save("face", mf, input_size=64, width=320, data_terms="face terms")
    eye_mf = (mf[list(PARTS["eye"].points)] - mf[66:75].min(0)) / 0.3
    eye = save("eye", eye_mf, layout="lapa106_eye", part="eye", input_size=32, backbone="mobilenet_v2_s8",
               net_stride=8, num_nb=3, crop_enlarge=1.8, norm="eye_width", data_terms="eye terms")
    rep = export_checkpoint(face, tmp_path / "m.onnx", parts=[eye])
    assert (tmp_path / "m.eye.onnx").is_file()
    lm = Landmarker.from_onnx(rep.path, detector=None)
    assert lm.parts is not None and lm.parts.names == ["eye"]
    assert "face terms" in lm.backend.meta["training_data_terms"] and "eye terms" in lm.backend.meta["training_data_terms"]
    image, pts = render_face(np.random.default_rng(3), 160, 160)
    box = np.r_[pts.min(0), pts.max(0)]
    with_parts = lm.predict(image, boxes=[box])[0].points
    alone = Landmarker.from_onnx(rep.path, detector=None, parts=()).predict(image, boxes=[box])[0].points
    assert np.abs(with_parts[66:75] - alone[66:75]).max() > 0.01 and np.array_equal(with_parts[:66], alone[:66])
    # a part file that changed, or went missing, is named
    (tmp_path / "m.eye.onnx").write_bytes((tmp_path / "m.eye.onnx").read_bytes() + b"\0")
    with pytest.raises(UserError, match="checksum"):
        Landmarker.from_onnx(rep.path, detector=None)
    (tmp_path / "m.eye.onnx").unlink()
    with pytest.raises(UserError, match="missing"):
        Landmarker.from_onnx(rep.path, detector=None)
    with pytest.raises(UserError, match="part model"):
        export_checkpoint(eye, tmp_path / "e.onnx")


def test_the_shipped_eye_model_refines_only_the_eyes_and_carries_the_terms(lm):
    """`--parts starter`: the eye rings, centres, pupils and the lip lines change, nothing else; the
    part files carry the starter's training-data terms; a part file that is not there is one line."""
    import onnx

    from pipnet106 import Landmarker
    from pipnet106.cli import main
    from pipnet106.constants import DEMO_PHOTO, STARTER_ONNX, STARTER_PARTS
    from pipnet106.errors import UserError
    from pipnet106.fileio import read_image
    from pipnet106.infer.backends import load_parts

    def terms(path):
        return {p.key: p.value for p in onnx.load(str(path)).metadata_props}["training_data_terms"]

    assert all(terms(p) == terms(STARTER_ONNX) for p in STARTER_PARTS.values()) and len(STARTER_PARTS) == 2
    image = read_image(DEMO_PHOTO)
    plain = lm.predict(image)
    with Landmarker.default(parts=load_parts(["starter"])) as fine:
        refined = fine.predict(image)
    assert len(plain) == len(refined) == 4
    eyes, mouth = np.r_[66:84, 104:106], np.r_[84:104]
    others = np.setdiff1d(np.arange(106), np.r_[eyes, mouth])
    for a, b in zip(plain, refined):
        assert np.array_equal(a.points[others], b.points[others])
        assert np.abs(a.points[eyes] - b.points[eyes]).max() > 0.1            # the eyes did move
        assert np.abs(a.points[mouth] - b.points[mouth]).max() > 0.1          # and the lips
    with pytest.raises(UserError, match="nothere.onnx: part model not found"):
        load_parts(["nothere.onnx"])
    assert main(["predict", str(DEMO_PHOTO), "--parts", "nothere.onnx", "--out", "/nonexistent/x"]) == 2


@pytest.mark.torch
@pytest.mark.parametrize("lag", [0.0, 1.0])
def test_part_box_lag_lets_the_crop_miss_a_changed_eye(tmp_path, lag):
    """Training crops of a shape-augmented eye: with `part_box_lag` 0 the box is cut from the warped
    labels, so the eye always spans the crop's side / enlargement exactly (a size the model can learn
    instead of reading it); with lag 1 the box may come from the labels before the warp, as the face
    model's points place it at inference, and the eye's span in the crop varies."""
    from pipnet106.config import Config
    from pipnet106.data.parts import PartDataset
    from pipnet106.data.prepare import prepare
    from pipnet106.synth.faces import generate_dataset

    generate_dataset(tmp_path / "src", 4, seed=2, size_range=(200, 220))
    prepare(tmp_path / "src", tmp_path / "data", size=192, crop="face", test_frac=0.25, progress=False, verbose=False)
    cfg = Config.from_dict(dict(layout="lapa106_eye", part="eye", input_size=48, net_stride=8, num_nb=3,
                                crop_enlarge=1.8, shape_prob=1.0, part_box_lag=lag))
    ds = PartDataset(tmp_path / "data", "train.txt", cfg, PARTS["eye"], np.zeros((10, 3), int), train=True)
    spans = []
    for k in range(len(ds)):
        _, q, m = ds.load(k, np.random.default_rng(k))
        ring = q[:9][m[:9]]
        spans.append((ring.max(0) - ring.min(0)).max() * 1.8 / 48)
    spans = np.array(spans)
    if lag == 0:
        np.testing.assert_allclose(spans, 1.0, atol=1e-6)   # the eye fills the box, whatever the warp did
    else:
        assert np.abs(spans - 1).max() > 0.03, spans
