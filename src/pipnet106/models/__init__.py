"""Model construction and size accounting.

`build_model(cfg)` is the one place a Config becomes a network; `count_flops`
reports FLOPs = 2 x multiply-accumulates of every Conv2d/Linear (the convention
of most detection/landmark papers; divide by 2 for MACs / "MAdds").
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..constants import NET_STRIDES
from ..errors import UserError
from .backbones import BACKBONES, build_backbone, load_pretrained, register_backbone
from .pipnet import PIPNet

__all__ = ["BACKBONES", "PIPNet", "build_model", "build_backbone", "count_params", "count_flops",
           "count_macs", "load_pretrained", "register_backbone"]



def build_model(cfg, *, layout=None, warn_scratch: bool = True) -> nn.Module:
    """Config -> PIPNet (backbone, width, net_stride, num_nb, layout, pretrained), or the network of
    another `head` on the same backbone (`models.heads`).

    `layout` is the run's resolved `Layout` (train and checkpoint pass theirs; others get
    `cfg.layout` looked up here). `warn_scratch=False` silences the from-scratch warning for
    callers that load weights right after (evaluate, export, predict, info, fine-tuning, resume).
    """
    from ..layout import get_layout

    if cfg.backbone not in BACKBONES:
        raise UserError(f"unknown backbone {cfg.backbone!r}; known: {', '.join(sorted(BACKBONES))}")
    if cfg.net_stride not in NET_STRIDES:
        raise UserError(f"net_stride must be one of {', '.join(map(str, NET_STRIDES))} (got {cfg.net_stride})")
    try:
        num_points = (layout or get_layout(cfg.layout)).num_points
    except ValueError as e:
        raise UserError(str(e)) from None
    if not 0 <= cfg.num_nb < num_points:
        raise UserError(f"num_nb must be in [0, {num_points - 1}] for layout {(layout.name if layout else cfg.layout)} "
                        f"(got {cfg.num_nb})")
    backbone = build_backbone(cfg.backbone, stride16=cfg.net_stride == 16, width=cfg.width,
                              pretrained=cfg.pretrained or None, warn_scratch=warn_scratch)
    if getattr(cfg, "head", "pip") != "pip":   # regression, simcc, heatmap on the same backbone (models.heads)
        from .heads import build_head_net

        return build_head_net(cfg.head, backbone, num_points, cfg.input_size)
    return PIPNet(backbone, num_points, cfg.num_nb, cfg.net_stride, visibility=bool(getattr(cfg, "visibility", False)))


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, input_size: int) -> int:
    """Multiply-accumulates of Conv2d, ConvTranspose2d and Linear layers for one 1x3xSxS input."""
    total = 0

    def conv_hook(m: nn.Conv2d, inp, out) -> None:
        nonlocal total
        kh, kw = m.kernel_size
        total += out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, inp, out) -> None:
        nonlocal total
        total += out.numel() * m.in_features

    def deconv_hook(m: nn.ConvTranspose2d, inp, out) -> None:   # every input pixel scatters a kernel
        nonlocal total
        kh, kw = m.kernel_size
        total += inp[0].numel() * (m.out_channels // m.groups) * kh * kw

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, nn.ConvTranspose2d):
            handles.append(m.register_forward_hook(deconv_hook))
    was_training = model.training
    try:
        model.eval()
        dev = next((p.device for p in model.parameters()), torch.device("cpu"))
        with torch.no_grad():
            model(torch.zeros(1, 3, input_size, input_size, device=dev))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return int(total)


def count_flops(model: nn.Module, input_size: int) -> int:
    """FLOPs = 2 x MACs of Conv2d/Linear layers for one 1x3xSxS input (biases, BN, activations ignored)."""
    return 2 * count_macs(model, input_size)
