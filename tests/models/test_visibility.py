"""The per-point visibility output: a sixth head read at each point's best cell, trained with
binary cross-entropy on the occluders' masks, carried through export into `Face.visibility`."""
from __future__ import annotations

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")

from pipnet106.config import Config  # noqa: E402
from pipnet106.data.meanface import neighbors  # noqa: E402
from pipnet106.data.targets import encode  # noqa: E402
from pipnet106.deploy.export import export_checkpoint  # noqa: E402
from pipnet106.fileio import atomic_torch_save  # noqa: E402
from pipnet106.infer.backends import OnnxBackend, TorchBackend  # noqa: E402
from pipnet106.infer.landmarker import Landmarker  # noqa: E402
from pipnet106.models import build_model  # noqa: E402
from pipnet106.models.checkpoint import make_checkpoint  # noqa: E402
from pipnet106.models.loss import pip_loss  # noqa: E402
from pipnet106.models.pipnet import lifelike_init_  # noqa: E402
from pipnet106.synth import faces as synth  # noqa: E402

SIZE = 64
CFG = dict(input_size=SIZE, backbone="mobilenet_v2", width=320, net_stride=32, num_nb=10, visibility=True)


@pytest.fixture(scope="module")
def vis_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("vis")
    cfg = Config.from_dict(CFG)
    torch.manual_seed(0)
    model = build_model(cfg, warn_scratch=False)
    lifelike_init_(model, SIZE)
    mf = synth.template()
    ck = root / "vis.pt"
    atomic_torch_save(ck, make_checkpoint(model, cfg, mf, neighbors(mf, cfg.num_nb)))
    return ck, export_checkpoint(ck, root / "vis.onnx")


def test_loss_adds_cross_entropy_at_the_true_cell():
    torch.manual_seed(0)
    b, n, k, g = 2, 6, 2, 4
    outs = [torch.randn(b, n, g, g), torch.randn(b, n, g, g), torch.randn(b, n, g, g),
            torch.randn(b, n * k, g, g), torch.randn(b, n * k, g, g)]
    vis_map = torch.randn(b, n, g, g)
    nb = np.stack([(np.arange(n) + 1) % n, (np.arange(n) + 2) % n], axis=1)
    pts = np.random.default_rng(0).uniform(0, 1, (b, n, 2))
    visible = np.array([[1, 0, 1, 1, 0, 1], [1, 1, 1, 0, 1, 1]], bool)
    mask = np.ones((b, n), bool)
    mask[1, 3] = False                                   # an unlabelled point adds nothing
    t = [encode(p, m, g, nb, v) for p, m, v in zip(pts, mask, visible)]
    tgt = {key: torch.as_tensor(np.stack([x[key] for x in t])) for key in t[0]}
    base, _ = pip_loss(outs, tgt)
    total, parts = pip_loss([*outs, vis_map], tgt, vis_weight=2.0)
    logit = vis_map.reshape(b, n, -1).gather(2, tgt["cell"][..., None]).squeeze(2)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logit, tgt["vis"], reduction="none")
    want = bce[torch.as_tensor(mask)].mean()
    assert torch.isclose(parts["vis"], want) and torch.isclose(total, base + 2.0 * want)


def test_visibility_travels_from_checkpoint_to_onnx_to_faces(vis_model):
    ck, rep = vis_model
    ob, tb = OnnxBackend(rep.path), TorchBackend.from_checkpoint(ck)
    assert ob.has_visibility and tb.has_visibility
    names = [o.name for o in onnx.load(str(rep.path)).graph.output]
    assert names == ["points", "conf", "visibility"]
    crops = np.random.default_rng(0).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    (op, oc, ov), (tp, tc, tv) = ob.predict(crops), tb.predict(crops)
    assert ov.shape == (3, 106) and ((ov >= 0) & (ov <= 1)).all() and ov.std() > 1e-3
    np.testing.assert_allclose(oc, tc, atol=1e-4)
    same_cells = np.abs(op - tp).max(axis=2) < 1e-4       # where both runtimes chose the same cell
    assert same_cells.mean() > 0.8
    np.testing.assert_allclose(ov[same_cells], tv[same_cells], atol=1e-4)
    assert len(ob(crops)) == 2                            # the two-output interface is unchanged
    image, pts = synth.render_face(np.random.default_rng(1), 160, 160)
    box = np.r_[pts.min(0), pts.max(0)]
    face = Landmarker(ob, detector=None).predict(image, boxes=[box])[0]
    assert face.visibility.shape == (106,) and len(face.to_dict()["visibility"]) == 106


def test_models_without_the_head_say_so(tmp_path):
    cfg = Config.from_dict({**CFG, "visibility": False})
    model = build_model(cfg, warn_scratch=False)
    assert not model.has_visibility and len(model(torch.zeros(1, 3, SIZE, SIZE))) == 5
    mf = synth.template()
    ck = tmp_path / "plain.pt"
    atomic_torch_save(ck, make_checkpoint(model, cfg, mf, neighbors(mf, cfg.num_nb)))
    tb = TorchBackend.from_checkpoint(ck)
    assert not tb.has_visibility and tb.predict(np.zeros((1, SIZE, SIZE, 3), np.uint8))[2] is None


def test_video_tracks_carry_the_visibility(vis_model):
    """The Tracker's faces keep the model's visibility (video retouch fades over occluded points as
    photos do); a model without the output gives None, as for photos."""
    from pipnet106.infer.video import Tracker

    ck, rep = vis_model
    image, pts = synth.render_face(np.random.default_rng(1), 160, 160)
    box = np.r_[pts.min(0), pts.max(0)]
    tracker = Tracker(Landmarker(OnnxBackend(rep.path), detector=None), min_conf=0.0, drift=None)  # an untrained model
    first = tracker.update(image, 0.0, boxes=[box])
    followed = tracker.update(image, 1 / 30)
    for faces in (first, followed):
        assert len(faces) == 1 and faces[0].visibility.shape == (106,)
        assert ((faces[0].visibility >= 0) & (faces[0].visibility <= 1)).all()
