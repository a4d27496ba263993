"""Backbones, PIPNet heads, model building, size accounting, info command, ONNX export."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torchvision

from pipnet106.config import Config
from pipnet106.models.decode import Decoder
from pipnet106.errors import UserError
from pipnet106.data.meanface import neighbors
from pipnet106.models import BACKBONES, PIPNet, build_backbone, build_model, count_flops, count_params
from pipnet106.models.pipnet import lifelike_init_

NP = 106


def _cfg(**kw) -> Config:
    return Config.from_dict(kw)


def _model(**kw) -> PIPNet:
    return build_model(_cfg(**kw), warn_scratch=False).eval()


# ------------------------------------------------------------------ backbones

EXPECTED_CHANNELS = {"resnet18": 512, "resnet50": 2048, "resnet101": 2048, "mobilenet_v2": 1280,
                     "mobilenet_v3_small": 576, "mobilenet_v3_large": 960}


def test_registry_has_the_standard_backbones():
    assert set(EXPECTED_CHANNELS) <= set(BACKBONES)


@pytest.mark.parametrize("name", sorted(EXPECTED_CHANNELS))
def test_every_backbone_builds_with_both_strides(name):
    x = torch.zeros(1, 3, 64, 64)
    for stride16, side in ((False, 2), (True, 4)):
        bb = build_backbone(name, stride16=stride16, warn_scratch=False).eval()
        assert bb.out_channels == EXPECTED_CHANNELS[name] and bb.stride == (16 if stride16 else 32)
        if name == "resnet101" and stride16:
            continue  # the big one: one forward is enough
        with torch.no_grad():
            f = bb(x)
        assert f.shape == (1, bb.out_channels, side, side)


@pytest.mark.parametrize("width", [1280, 640, 320])
def test_mobilenet_v2_widths(width):
    m = _model(backbone="mobilenet_v2", width=width, input_size=64, num_nb=10)
    for head in m.heads():
        assert head.in_channels == width and head.kernel_size == (1, 1)
    assert m.cls_layer.out_channels == NP and m.nb_x_layer.out_channels == NP * 10
    with torch.no_grad():
        out = m(torch.rand(2, 3, 64, 64))
    assert [tuple(o.shape) for o in out] == [(2, NP, 2, 2)] * 3 + [(2, NP * 10, 2, 2)] * 2
    last = m.backbone.features[18]
    if width == 320:
        assert isinstance(last, nn.Identity)
    else:
        assert last[0].out_channels == width and last[1].num_features == width and isinstance(last[2], nn.ReLU6)


def test_width_zero_is_stock_mobilenet_v2():
    assert _model(width=0).backbone.out_channels == 1280


def test_heads_are_initialised_small():
    m = _model(width=320)
    for head in m.heads():
        assert head.weight.std().item() < 0.002 and torch.all(head.bias == 0)


@pytest.mark.parametrize("net_stride,size,grid,head_stride", [(64, 256, 4, 2), (128, 256, 2, 4), (16, 128, 8, 1),
                                                              (32, 128, 4, 1)])
def test_net_strides_give_the_right_grid(net_stride, size, grid, head_stride):
    m = _model(width=320, net_stride=net_stride, input_size=size, num_nb=4)
    assert m.head_stride == head_stride
    assert m.backbone.stride == (16 if net_stride == 16 else 32)
    with torch.no_grad():
        out = m(torch.zeros(1, 3, size, size))
    assert out[0].shape == (1, NP, grid, grid) and out[3].shape == (1, NP * 4, grid, grid)
    assert m.grid_size(size) == grid


def test_resnet_stride16():
    m = _model(backbone="resnet18", net_stride=16, input_size=64, num_nb=2)
    with torch.no_grad():
        assert m(torch.zeros(1, 3, 64, 64))[0].shape == (1, NP, 4, 4)


def test_num_nb_zero_gives_empty_neighbour_maps():
    m = _model(width=320, num_nb=0, input_size=64)
    with torch.no_grad():
        out = m(torch.zeros(2, 3, 64, 64))
    assert out[3].shape == (2, 0, 2, 2) and out[4].shape == (2, 0, 2, 2)


@pytest.mark.parametrize("kw", [
    {"net_stride": 48},
    {"backbone": "vgg16"},
    {"backbone": "resnet18", "width": 640},
    {"width": 500},
    {"num_nb": NP},
    {"layout": "nope"},
])
def test_invalid_combinations_are_user_errors(kw):
    with pytest.raises(UserError):
        build_model(_cfg(**kw), warn_scratch=False)


# ------------------------------------------------------------------ pretrained weights

def test_pretrained_missing_file(tmp_path):
    with pytest.raises(UserError, match="not found"):
        build_model(_cfg(width=320, pretrained=str(tmp_path / "nope.pth")))


def test_pretrained_not_a_state_dict(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_text("hello")
    with pytest.raises(UserError, match="not a torch state dict"):
        build_model(_cfg(width=320, pretrained=str(bad)))
    lst = tmp_path / "list.pth"
    torch.save([1, 2, 3], lst)
    with pytest.raises(UserError, match="not a torch state dict"):
        build_model(_cfg(width=320, pretrained=str(lst)))


def test_pretrained_wrong_architecture_loads_nothing(tmp_path):
    p = tmp_path / "other.pth"
    torch.save({"foo.weight": torch.zeros(3)}, p)
    with pytest.raises(UserError, match="no tensor matches"):
        build_model(_cfg(width=320, pretrained=str(p)))


def test_pretrained_imagenet_style_state_dict_loads(tmp_path, capsys):
    torch.manual_seed(0)
    src = torchvision.models.mobilenet_v2(weights=None)  # stands in for ImageNet weights
    p = tmp_path / "mbv2.pth"
    torch.save(src.state_dict(), p)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no from-scratch warning when weights are given
        m = build_model(_cfg(width=640, pretrained=str(p)))
    sd = src.state_dict()
    own = m.backbone.state_dict()
    assert torch.equal(own["features.0.0.weight"], sd["features.0.0.weight"])
    assert torch.equal(own["features.17.conv.2.weight"], sd["features.17.conv.2.weight"])
    # the narrowed last conv (640) cannot take the 1280-wide tensors and keeps its own init
    assert own["features.18.0.weight"].shape[0] == 640
    n_mismatch = sum(1 for k in own if own[k].shape != sd[k].shape)
    assert n_mismatch == 5  # conv weight + BN weight, bias, running mean, running var
    assert m.backbone.pretrained_loaded == len(own) - n_mismatch
    assert f"loaded {len(own) - n_mismatch}/{len(own)}" in capsys.readouterr().err


def test_no_pretrained_warns_about_scratch():
    with pytest.warns(UserWarning, match="from scratch"):
        build_model(_cfg(width=320))


# ------------------------------------------------------------------ size accounting

def test_count_flops_by_hand():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.Flatten(),
                        nn.Linear(4 * 8 * 8, 10))
    macs = 8 * 8 * 4 * 3 * 9 + 8 * 8 * 4 * 1 * 9 + 256 * 10
    assert count_flops(net, 8) == 2 * macs
    assert count_params(net) == (4 * 27 + 4) + (4 * 9 + 4) + (2560 + 10)
    assert net.training  # training mode restored


def test_head_flops_grow_with_neighbours():
    small, big = _model(width=320, num_nb=0, input_size=64), _model(width=320, num_nb=10, input_size=64)
    head_macs = 320 * NP * 2 * 10 * 2 * 2  # two extra 1x1 heads of N*K channels on a 2x2 grid
    assert count_flops(big, 64) - count_flops(small, 64) == 2 * head_macs
    assert count_params(big) - count_params(small) == 2 * (320 * NP * 10 + NP * 10)


def test_info_command(capsys, monkeypatch):
    from pipnet106 import cli
    from pipnet106.models import info

    assert cli.main(["info", "--set", "width=320", "--set", "input_size=64"]) == 0
    out = capsys.readouterr().out
    assert "grid         2x2" in out and "FLOPs" in out and "mobilenet_v2" in out
    monkeypatch.setattr(info, "STANDARD", [("w320", "mobilenet_v2", 320)])
    monkeypatch.setattr(info, "STANDARD_SIZES", (64, 128))
    assert cli.main(["info", "--all"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and "2x2" in lines[3] and "4x4" in lines[4]
    assert cli.main(["info", "--set", "net_stride=48"]) == 2


# ------------------------------------------------------------------ ONNX

class _Full(nn.Module):
    def __init__(self, net: nn.Module, dec: nn.Module) -> None:
        super().__init__()
        self.net, self.dec = net, dec

    def forward(self, x):
        return self.dec(*self.net(x))


def test_onnx_export_matches_torch(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from pipnet106.deploy.export import TORCHSCRIPT_EXPORTER
    torch.manual_seed(0)
    m = _model(width=320, input_size=128, num_nb=10)
    lifelike_init_(m, 128)  # maps at a trained network's scale (random init leaves them ~1e-9)
    mf = np.random.default_rng(0).uniform(0.1, 0.9, size=(NP, 2))
    full = _Full(m, Decoder.from_neighbors(neighbors(mf, 10))).eval()
    x = torch.rand(2, 3, 128, 128)
    path = tmp_path / "m.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(full, (x[:1],), str(path), **TORCHSCRIPT_EXPORTER, opset_version=17, input_names=["image"],
                          output_names=["points", "conf"],
                          dynamic_axes={"image": {0: "batch"}, "points": {0: "batch"}, "conf": {0: "batch"}})
    model = onnx.load(str(path))
    assert any(o.domain in ("", "ai.onnx") and o.version == 17 for o in model.opset_import)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    pts, conf = sess.run(None, {"image": x.numpy()})
    with torch.no_grad():
        tp, tc = full(x)
        score = m(x)[0].flatten(2)
    assert pts.shape == (2, NP, 2) and conf.shape == (2, NP)
    # which of two nearly equal cells wins depends on float rounding, which differs between runtimes
    # and CPUs: compare the points whose best cells (their own and their voters') lead by a margin
    # far above the runtimes' ~1e-6 disagreement, and the confidences (the best score) everywhere
    top2 = torch.topk(score, 2, dim=2).values.numpy()
    tied = top2[..., 0] - top2[..., 1] <= 2e-4
    dec = full.dec
    decided = ~(tied | (tied[:, dec.idx.numpy()] & (dec.mask.numpy() > 0)).any(axis=2))
    assert decided.mean() > 0.8 and score.std() > 0.01  # the comparison has teeth
    np.testing.assert_allclose(pts[decided], tp.numpy()[decided], atol=1e-5, rtol=0)
    np.testing.assert_allclose(conf, tc.numpy(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("net_stride,size,num_nb", [(32, 128, 10), (64, 256, 4), (32, 64, 0)])
def test_offsets_at_the_best_cells_equal_decoding_the_full_maps(net_stride, size, num_nb):
    """Inference evaluates the offset heads only at each landmark's best cell (`Decoder.at_cells`):
    the same points and confidences as decoding the five full maps, any head stride, with or without neighbours."""
    from pipnet106.models.pipnet import lifelike_init_

    m = lifelike_init_(_model(width=320, net_stride=net_stride, input_size=size, num_nb=num_nb), size)
    nb = neighbors(np.random.default_rng(0).uniform(0.1, 0.9, (NP, 2)), num_nb)
    dec = Decoder.from_neighbors(nb)
    x = torch.randn(3, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        maps = m(x)
        score, feats = m(x, offsets=False)
        want_p, want_c = dec(*maps)
        got_p, got_c, extra = dec.at_cells(score, feats, *m.point_heads())
    assert feats.shape[-1] == size // net_stride and torch.equal(score, maps[0])
    assert want_p.std() > 0.05  # points that differ per landmark (not a degenerate all-equal decode)
    torch.testing.assert_close(got_p, want_p, rtol=0, atol=2e-6)
    torch.testing.assert_close(got_c, want_c, rtol=0, atol=0)
    assert extra.shape == (3, NP, 0)  # no visibility head: no extra rows
