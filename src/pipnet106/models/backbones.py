"""Feature extractors for PIPNet, built from torchvision definitions (never downloaded).

Every backbone is an ``nn.Module`` mapping (B, 3, H, W) images to a (B, C, H/s, W/s)
feature map and exposes ``out_channels`` (C) and ``stride`` (s, 32 or 16). Parameter
names are kept identical to torchvision's so an ImageNet state dict saved from
torchvision loads directly (``pretrained=<path>``); the classifier keys are simply
ignored.

``stride16`` turns the last downsampling into a stride-1 op, which keeps the spatial
detail PIPNet's net_stride=16 needs without changing any weight shape.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torchvision
from torchvision.ops.misc import Conv2dNormActivation

from ..constants import MBV2_WIDTHS
from ..errors import UserError

BACKBONES: dict[str, Callable[..., nn.Module]] = {}
"""name -> builder(*, stride16=False, width=0, pretrained="", warn_scratch=True)."""



def register_backbone(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator adding a builder to `BACKBONES` under `name`."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in BACKBONES:
            raise ValueError(f"backbone {name!r} registered twice")
        BACKBONES[name] = fn
        return fn

    return deco


class FeatureBackbone(nn.Module):
    """Wraps torchvision's ``features`` Sequential (MobileNets); keys stay ``features.*``."""

    def __init__(self, features: nn.Module, out_channels: int, stride: int) -> None:
        super().__init__()
        self.features = features
        self.out_channels = int(out_channels)
        self.stride = int(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class ResNetBackbone(nn.Module):
    """ResNet without avgpool/fc; submodule names match torchvision (conv1, layer1, ...)."""

    def __init__(self, net: torchvision.models.ResNet, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        last = self.layer4[-1]
        self.out_channels = int((last.bn3 if hasattr(last, "bn3") else last.bn2).num_features)
        self.stride = int(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def _set_stride1(conv: nn.Conv2d) -> None:
    if conv.stride != (2, 2):
        raise AssertionError(f"expected a stride-2 conv, got {conv}")
    conv.stride = (1, 1)


def _resnet(ctor: Callable[..., torchvision.models.ResNet], name: str, *, stride16: bool, width: int,
            pretrained: str | None, warn_scratch: bool) -> nn.Module:
    _no_width(name, width)
    net = ctor(weights=None)
    if stride16:
        block = net.layer4[0]
        for m in block.modules():  # conv1 (basic) or conv2 (bottleneck, v1.5) and the downsample conv
            if isinstance(m, nn.Conv2d) and m.stride == (2, 2):
                m.stride = (1, 1)
    bb = ResNetBackbone(net, 16 if stride16 else 32)
    _load_or_warn(bb, name, pretrained, warn_scratch)
    return bb


def _no_width(name: str, width: int) -> None:
    if width:
        raise UserError(f"backbone {name}: width is a mobilenet_v2 option (got width={width})")


@register_backbone("resnet18")
def resnet18(*, stride16: bool = False, width: int = 0, pretrained: str | None = None,
             warn_scratch: bool = True) -> nn.Module:
    return _resnet(torchvision.models.resnet18, "resnet18", stride16=stride16, width=width,
                   pretrained=pretrained, warn_scratch=warn_scratch)


@register_backbone("resnet50")
def resnet50(*, stride16: bool = False, width: int = 0, pretrained: str | None = None,
             warn_scratch: bool = True) -> nn.Module:
    return _resnet(torchvision.models.resnet50, "resnet50", stride16=stride16, width=width,
                   pretrained=pretrained, warn_scratch=warn_scratch)


@register_backbone("resnet101")
def resnet101(*, stride16: bool = False, width: int = 0, pretrained: str | None = None,
              warn_scratch: bool = True) -> nn.Module:
    return _resnet(torchvision.models.resnet101, "resnet101", stride16=stride16, width=width,
                   pretrained=pretrained, warn_scratch=warn_scratch)


@register_backbone("mobilenet_v2")
def mobilenet_v2(*, stride16: bool = False, width: int = 0, pretrained: str | None = None,
                 warn_scratch: bool = True) -> nn.Module:
    """width: 1280 (stock, also 0), 640 (narrower last 1x1 conv) or 320 (last 1x1 conv removed)."""
    width = width or 1280
    if width not in MBV2_WIDTHS:
        raise UserError(f"mobilenet_v2 width must be 1280, 640 or 320 (got {width})")
    features = torchvision.models.mobilenet_v2(weights=None).features
    if stride16:
        block = features[14]  # 96 -> 160, the last stride-2 inverted residual
        _set_stride1(block.conv[1][0])
        block.stride = 1
    if width == 640:
        features[18] = Conv2dNormActivation(320, 640, kernel_size=1, norm_layer=nn.BatchNorm2d,
                                            activation_layer=nn.ReLU6)
    elif width == 320:
        features[18] = nn.Identity()
    bb = FeatureBackbone(features, width, 16 if stride16 else 32)
    _load_or_warn(bb, "mobilenet_v2", pretrained, warn_scratch)
    return bb


@register_backbone("mobilenet_v2_s8")
def mobilenet_v2_s8(*, stride16: bool = False, width: int = 0, pretrained: str | None = None,
                    warn_scratch: bool = True) -> nn.Module:
    """The first 14 blocks of mobilenet_v2 (96 channels), the stride-2 of block 7 set to 1: a stride-8
    map for the small part crops of the local stage (eyes, mouth), twice as fine as a stride-16 map on
    the same crop. Its tensors are named as mobilenet_v2's, so it starts from a face model's backbone."""
    _no_width("mobilenet_v2_s8", width)
    features = torchvision.models.mobilenet_v2(weights=None).features[:14]
    block = features[7]   # 32 -> 64, the stride-2 inverted residual of stride 16
    _set_stride1(block.conv[1][0])
    block.stride = 1
    bb = FeatureBackbone(features, 96, 8)
    _load_or_warn(bb, "mobilenet_v2_s8", pretrained, warn_scratch)
    return bb


def _mbv3(ctor: Callable[..., nn.Module], name: str, *, stride16: bool, width: int,
          pretrained: str | None, warn_scratch: bool) -> nn.Module:
    _no_width(name, width)
    features = ctor(weights=None).features
    if stride16:
        last = [m for m in features.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)][-1]
        _set_stride1(last)
    out_channels = features[-1].out_channels
    bb = FeatureBackbone(features, out_channels, 16 if stride16 else 32)
    _load_or_warn(bb, name, pretrained, warn_scratch)
    return bb


@register_backbone("mobilenet_v3_small")
def mobilenet_v3_small(*, stride16: bool = False, width: int = 0, pretrained: str | None = None,
                       warn_scratch: bool = True) -> nn.Module:
    return _mbv3(torchvision.models.mobilenet_v3_small, "mobilenet_v3_small", stride16=stride16,
                 width=width, pretrained=pretrained, warn_scratch=warn_scratch)


@register_backbone("mobilenet_v3_large")
def mobilenet_v3_large(*, stride16: bool = False, width: int = 0, pretrained: str | None = None,
                       warn_scratch: bool = True) -> nn.Module:
    return _mbv3(torchvision.models.mobilenet_v3_large, "mobilenet_v3_large", stride16=stride16,
                 width=width, pretrained=pretrained, warn_scratch=warn_scratch)


def build_backbone(name: str, *, stride16: bool = False, width: int = 0, pretrained: str | None = None,
                   warn_scratch: bool = True) -> nn.Module:
    """Look up `name` in `BACKBONES` and build it; UserError for an unknown name."""
    if name not in BACKBONES:
        raise UserError(f"unknown backbone {name!r}; known: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name](stride16=stride16, width=width, pretrained=pretrained, warn_scratch=warn_scratch)


# ---------------------------------------------------------------- pretrained weights

def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise UserError(f"{path}: pretrained weights file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle/zip errors of every kind: one line for the user
        raise UserError(f"{path}: not a torch state dict ({type(e).__name__})") from None
    # accept the common wrappers {"state_dict": ...} / {"model": ...}
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not any(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path}: not a torch state dict (expected a mapping of names to tensors)")
    out = {}
    for k, v in obj.items():
        if isinstance(v, torch.Tensor):
            k = str(k)
            out[k[len("module."):] if k.startswith("module.") else k] = v
    return out


def load_pretrained(module: nn.Module, path: str | Path, name: str = "backbone") -> tuple[int, int]:
    """Copy every tensor whose name and shape match into `module` (strict=False semantics).

    Returns (loaded, total tensors in the module). Zero matches is an error: it means the
    file belongs to another architecture and training would silently start from scratch.
    """
    path = Path(path)
    src = _read_state_dict(path)
    own = module.state_dict()
    match = {k: v for k, v in src.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    if not match:
        raise UserError(f"{path}: no tensor matches the {name} backbone (is it a {name} ImageNet state dict?)")
    module.load_state_dict(match, strict=False)
    print(f"pipnet106: {name}: loaded {len(match)}/{len(own)} pretrained tensors from {path}", file=sys.stderr)
    return len(match), len(own)


def _load_or_warn(bb: nn.Module, name: str, pretrained: str | None, warn_scratch: bool) -> None:
    if pretrained:
        loaded, total = load_pretrained(bb, pretrained, name)
        bb.pretrained_loaded = loaded
    else:
        bb.pretrained_loaded = 0
        if warn_scratch:
            warnings.warn(
                f"backbone {name}: no pretrained weights given (config key 'pretrained'); "
                "training starts from scratch, which needs far more data and epochs",
                UserWarning, stacklevel=3,
            )
