"""The regression, SimCC and heatmap heads (`models.heads`, `models.head_codecs`).

Decoding is checked on maps built from known sub-pixel points, flips on mirrored points, the losses at
their optimum, the export by onnxruntime against PyTorch, learning by a tiny overfit, and `pip` (the
default) by being exactly what it was: PIPNet, `Decoder`, `pip_loss`, no `head` in the ONNX metadata.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipnet106.config import Config, load_config
from pipnet106.data.dataset import LandmarkDataset
from pipnet106.data.meanface import load_meanface, neighbors, reverse_index
from pipnet106.data.prepare import prepare
from pipnet106.errors import UserError
from pipnet106.layout import get_layout
from pipnet106.models import build_model, count_macs
from pipnet106.models.checkpoint import init_from, make_checkpoint, read_checkpoint
from pipnet106.models.decode import Decoder
from pipnet106.models.head_codecs import (HEATMAP_SIGMA, HeatmapDecoder, RegressionDecoder, SimCCDecoder,
                                          build_decoder, head_loss, heatmaps, simcc_labels, simcc_sigma_bins, wing)
from pipnet106.models.heads import HeatmapNet, RegressionNet, SimCCNet, init_head, lifelike_head_init_
from pipnet106.models.loss import pip_loss
from pipnet106.models.pipnet import PIPNet
from pipnet106.synth.faces import generate_dataset
from pipnet106.train.evaluate import nme

HEADS = ("regression", "simcc", "heatmap")
N = 106


def _cfg(head: str, size: int = 64, stride: int = 32) -> Config:
    return Config(input_size=size, backbone="mobilenet_v2", width=320, net_stride=stride, num_nb=10, workers=0,
                  head=head)


def _points(b: int = 3, lo: float = 0.1, hi: float = 0.9, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).uniform(lo, hi, size=(b, N, 2))).float()


def _mirror(p: torch.Tensor) -> torch.Tensor:
    return torch.stack([1.0 - p[..., 0], p[..., 1]], dim=-1)


# ------------------------------------------------------------------ decoding exactness

def test_heatmap_decodes_gaussian_peaks_to_sub_pixel_points():
    """A Gaussian peak at a known sub-pixel point decodes back to within 0.002 heatmap px (the parabola
    on the log map is exact for a Gaussian; the rest is float32 rounding)."""
    size = 32
    pts = _points(lo=0.08, hi=0.92)                    # interior: the neighbours on both sides exist
    dec, conf = HeatmapDecoder(N)(heatmaps(pts, size))
    assert float((dec - pts).abs().max()) * size < 2e-3
    assert float(conf.min()) > 0.88                    # peak of a Gaussian within 0.5 px of a pixel centre


def test_heatmap_border_peak_stays_within_half_a_pixel():
    size = 16
    pts = torch.tensor([[[0.01, 0.5], [0.5, 0.995], [0.0, 0.0]]])
    dec, _ = HeatmapDecoder(3)(heatmaps(pts, size))
    assert float((dec - pts).abs().max()) * size <= 0.5 + 1e-6


def test_simcc_decodes_labels_to_their_bin():
    """Argmax decoding (RTMPose): a label's point comes back to within half a bin (0.25 input px at split 2)."""
    size = 64
    pts = _points()
    dec = SimCCDecoder(N, size)
    lx, ly = simcc_labels(pts, dec.bins, simcc_sigma_bins(size))
    got, conf = dec(lx.log(), ly.log())
    assert float((got - pts).abs().max()) * dec.bins <= 0.5 + 1e-4
    # a perfect label centred on a bin is a fully confident prediction
    centred = (torch.floor(pts * dec.bins) + 0.5) / dec.bins
    cx, cy = simcc_labels(centred, dec.bins, simcc_sigma_bins(size))
    _, conf = dec(cx.log(), cy.log())
    assert float(conf.min()) > 0.99


def test_regression_decoder_passes_points_through_with_conf_one():
    pts = _points()
    got, conf = RegressionDecoder(N)(pts)
    assert torch.equal(got, pts) and torch.equal(conf, torch.ones(3, N))


# ------------------------------------------------------------------ horizontal flip

def test_targets_commute_with_the_training_flip():
    """Mirrored points (x -> 1 - x, as `data.augment.hflip`) give the mirrored heatmaps and SimCC labels."""
    pts = _points()
    assert torch.allclose(heatmaps(_mirror(pts), 24), heatmaps(pts, 24).flip(-1), atol=1e-6)
    lx, ly = simcc_labels(pts, 128, simcc_sigma_bins(64))
    mx, my = simcc_labels(_mirror(pts), 128, simcc_sigma_bins(64))
    assert torch.allclose(mx, lx.flip(-1), atol=1e-6) and torch.allclose(my, ly, atol=1e-7)


def test_decoders_commute_with_the_flip():
    """Decoding a mirrored map gives the mirrored points (random maps: no ties)."""
    g = torch.Generator().manual_seed(3)
    hm = torch.rand(2, N, 16, 16, generator=g)
    p, c = HeatmapDecoder(N)(hm)
    q, d = HeatmapDecoder(N)(hm.flip(-1))
    assert torch.allclose(q, _mirror(p), atol=1e-5) and torch.equal(c, d)
    lx, ly = torch.randn(2, N, 128, generator=g), torch.randn(2, N, 128, generator=g)
    p, _ = SimCCDecoder(N, 64)(lx, ly)
    q, _ = SimCCDecoder(N, 64)(lx.flip(-1), ly)
    assert torch.allclose(q, _mirror(p), atol=1e-6)


# ------------------------------------------------------------------ losses

def _targets(pts: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"points": pts, "mask": torch.ones(pts.shape[:2])}


def test_losses_vanish_at_their_targets_and_ignore_missing_points():
    pts = _points(b=2)
    size = 64
    perfect = {"regression": (pts,), "heatmap": (heatmaps(pts, size // 4),),
               "simcc": tuple(t.clamp(min=1e-30).log() for t in simcc_labels(pts, 2 * size, simcc_sigma_bins(size)))}
    for head, out in perfect.items():
        loss, _ = head_loss(_cfg(head, size), out, _targets(pts))
        assert abs(float(loss)) < 1e-5, head
        # a point missing from the labels (NaN, mask 0) changes nothing, even with a wrong prediction there
        t = _targets(pts.clone())
        t["points"][0, 5] = float("nan")
        t["mask"][0, 5] = 0
        bad = tuple(o.clone() for o in out)
        bad[0][0, 5] = bad[0][0, 5] + 3.0
        loss2, _ = head_loss(_cfg(head, size), bad, t)
        assert abs(float(loss2)) < 1e-5 and torch.isfinite(loss2), head


def test_wing_is_continuous_and_log_shaped():
    e = torch.tensor([0.0, 2.0, 10.0 - 1e-4, 10.0, 30.0])
    v = wing(e)
    assert float(v[0]) == 0.0 and abs(float(v[2] - v[3])) < 1e-3
    assert abs(float(v[1]) - 10.0 * np.log(2.0)) < 1e-5 and abs(float(v[4] - v[3]) - 20.0) < 1e-4


# ------------------------------------------------------------------ networks

@pytest.mark.parametrize("head,cls", [("regression", RegressionNet), ("simcc", SimCCNet), ("heatmap", HeatmapNet)])
@pytest.mark.parametrize("stride", [16, 32])
def test_networks_output_what_their_decoder_reads(head, cls, stride):
    cfg = _cfg(head, 64, stride)
    model = build_model(cfg, warn_scratch=False).eval()
    assert isinstance(model, cls) and model.net_stride == stride
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 64, 64))
    pts, conf = build_decoder(cfg, np.zeros((N, 10), np.int64))(*out)
    assert pts.shape == (2, N, 2) and conf.shape == (2, N) and len(out) == len(model.map_names)
    if head == "heatmap":
        assert out[0].shape == (2, N, 16, 16)


def test_config_refuses_what_a_head_cannot_do():
    with pytest.raises(UserError, match="unknown head"):
        load_config(overrides=["head=dsnt"])
    with pytest.raises(UserError, match="net_stride must be 16 or 32"):
        load_config(overrides=["head=simcc", "net_stride=64"])
    with pytest.raises(UserError, match="PIPNet options"):
        load_config(overrides=["head=heatmap", "visibility=true"])


def test_deconv_macs_are_counted():
    """Each input element of a transposed conv scatters a k x k kernel into every output channel."""
    net = HeatmapNet(build_model(_cfg("pip"), warn_scratch=False).backbone, N, 64)
    without = count_macs(torch.nn.Sequential(net.backbone), 64)
    deconv = sum(int(np.prod(s)) for s in [(320 * 2 * 2, 128, 16), (128 * 4 * 4, 128, 16), (128 * 8 * 8, 128, 16)])
    assert count_macs(net, 64) == without + deconv + 128 * 16 * 16 * N


def test_starter_fills_the_backbone_and_the_head_starts_fresh():
    from pipnet106.constants import STARTER_PT

    ck = read_checkpoint(STARTER_PT)
    layout = get_layout("lapa106")
    nb = np.asarray(ck["nb"])
    for head in HEADS:
        model = build_model(_cfg(head, 128, 16), warn_scratch=False)
        fresh = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("backbone.")}
        msg = init_from(model, ck, STARTER_PT, layout, nb)
        state = model.state_dict()
        backbone = [k for k in state if k.startswith("backbone.")]
        assert all(torch.equal(state[k], ck["model"][k]) for k in backbone), head
        assert all(torch.equal(state[k], v) for k, v in fresh.items()), head
        assert f"{len(backbone)}/{len(state)} tensors" in msg


# ------------------------------------------------------------------ pip unchanged

def test_pip_is_the_default_and_unchanged():
    cfg = Config(input_size=64, width=320, net_stride=32)
    assert cfg.head == "pip"
    assert isinstance(build_model(cfg, warn_scratch=False), PIPNet)
    nb = neighbors(np.random.default_rng(0).uniform(0.1, 0.9, (N, 2)), 10)
    assert isinstance(build_decoder(cfg, nb), Decoder)
    g = torch.Generator().manual_seed(0)
    outs = [torch.rand(2, N, 2, 2, generator=g)] * 3 + [torch.rand(2, N * 10, 2, 2, generator=g)] * 2
    tgt = {"cell": torch.zeros(2, N, dtype=torch.long), "offset": torch.rand(2, N, 2, generator=g),
           "nb_offset": torch.rand(2, N, 10, 2, generator=g), "mask": torch.ones(2, N), "nb_mask": torch.ones(2, N, 10)}
    a, _ = head_loss(cfg, outs, tgt)
    b, _ = pip_loss(outs, tgt, cfg.cls_weight, cfg.reg_weight, cfg.vis_weight)
    assert torch.equal(a, b)
    assert Decoder(reverse_index(nb), 10).num_nb == build_decoder(cfg, nb).num_nb


# ------------------------------------------------------------------ export

@pytest.mark.parametrize("head", HEADS)
def test_export_parity_and_backends(head, tmp_path):
    """One ONNX file with decoding inside; onnxruntime gives PyTorch's points through the backends
    `predict`, `eval` and `bench` use; the metadata names the head."""
    pytest.importorskip("onnxruntime")
    from pipnet106.deploy.export import export_checkpoint
    from pipnet106.infer.backends import OnnxBackend, TorchBackend

    cfg = _cfg(head, 64, 32)
    torch.manual_seed(0)
    model = lifelike_head_init_(build_model(cfg, warn_scratch=False))
    mf = np.random.default_rng(0).uniform(0.2, 0.8, (N, 2))
    torch.save(make_checkpoint(model, cfg, mf, neighbors(mf, 10)), tmp_path / "m.pt")
    rep = export_checkpoint(tmp_path / "m.pt", tmp_path / "m.onnx")
    assert rep.points_diff < 1e-4 and rep.points_checked > 0
    crops = np.random.default_rng(1).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    onnx_b, torch_b = OnnxBackend(tmp_path / "m.onnx"), TorchBackend.from_checkpoint(tmp_path / "m.pt")
    (po, co), (pt, ct) = onnx_b(crops), torch_b(crops)
    assert po.shape == (4, N, 2) and co.shape == (4, N)
    assert onnx_b.meta["head"] == head
    assert float(np.abs(po - pt).max()) < 1e-3      # argmax ties aside (lifelike maps have none here)
    assert float(np.abs(co - ct).max()) < 1e-4


# ------------------------------------------------------------------ learning

STEPS = 120
THRESHOLD = 0.10


@pytest.fixture(scope="module")
def eight_faces(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("heads8")
    generate_dataset(root / "src", 8, seed=11, size_range=(96, 128))
    prepare(root / "src", root / "prep", size=64, crop="face", test_frac=0, workers=0, progress=False,
            verbose=False)
    return root / "prep"


@pytest.mark.parametrize("head", HEADS)
def test_tiny_overfit(head, eight_faces):
    """120 Adam steps on 8 synthetic faces take the NME below 10% (measured at 120 steps, one thread:
    regression 4.6% from the mean face's 15.8%, simcc 4.2% and heatmap 3.0% from 98% and 67%)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = _cfg(head)
        layout = get_layout(cfg.layout)
        mf = load_meanface(eight_faces / "meanface.txt", N)
        nb = neighbors(mf, 10)
        ds = LandmarkDataset(eight_faces, "train.txt", cfg, layout, nb, train=False)
        items = [ds[i] for i in range(len(ds))]
        x = torch.stack([it[0] for it in items])
        tgt = {k: torch.stack([it[1][k] for it in items]) for k in items[0][1]}
        torch.manual_seed(0)
        model = build_model(cfg, warn_scratch=False)
        init_head(model, mf)
        dec = build_decoder(cfg, nb)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def val() -> float:
            model.eval()
            with torch.no_grad():
                pts, _ = dec(*model(x))
            model.train()
            return float(nme(pts.numpy(), tgt["points"].numpy(), layout).mean())

        start = val()
        first = last = None
        for _ in range(STEPS):
            loss, _ = head_loss(cfg, model(x), tgt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            first = loss.item() if first is None else first
            last = loss.item()
        end = val()
    finally:
        torch.set_num_threads(before)
    assert end < THRESHOLD and end < start / 2, f"{head}: NME {start:.3f} -> {end:.3f}"
    assert last < first / 2, f"{head}: loss {first:.4f} -> {last:.4f}"
