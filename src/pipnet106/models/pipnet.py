"""PIPNet: a backbone plus five 1x1 conv heads on the final feature map.

For N landmarks and K neighbours the heads predict, per grid cell:
score (N), own x/y offsets (N each) and the x/y offsets of each landmark's K
neighbours (N*K each), all relative to that cell (see DESIGN.md for the grid
conventions). Net strides coarser than the backbone's are reached by reading every
`head_stride`-th cell of the backbone's map (what a strided 1x1 conv reads), so a
stride-64 net on a stride-32 backbone reads every second cell.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import UserError


class PIPNet(nn.Module):
    def __init__(self, backbone: nn.Module, num_points: int, num_nb: int, net_stride: int = 32,
                 visibility: bool = False) -> None:
        super().__init__()
        bstride = int(backbone.stride)
        if net_stride < bstride or net_stride % bstride or net_stride // bstride not in (1, 2, 4):
            raise UserError(f"net_stride {net_stride} is not reachable from a stride-{bstride} backbone "
                            "(use 16 with a stride-16 backbone, or 32, 64, 128)")
        self.backbone = backbone
        self.num_points = int(num_points)
        self.num_nb = int(num_nb)
        self.net_stride = int(net_stride)
        hs = net_stride // bstride
        self.head_stride = hs
        c = int(backbone.out_channels)
        n, k = self.num_points, self.num_nb
        self.cls_layer = nn.Conv2d(c, n, 1)
        self.x_layer = nn.Conv2d(c, n, 1)
        self.y_layer = nn.Conv2d(c, n, 1)
        # num_nb=0 (no neighbour regression): the nb outputs are empty (B,0,G,G) tensors
        self.nb_x_layer = nn.Conv2d(c, n * k, 1) if k else None
        self.nb_y_layer = nn.Conv2d(c, n * k, 1) if k else None
        # visibility (optional): a logit per point, read at the point's best cell like its offsets
        self.vis_layer = nn.Conv2d(c, n, 1) if visibility else None
        for head in self.heads():
            nn.init.normal_(head.weight, std=0.001)
            nn.init.zeros_(head.bias)

    def heads(self) -> list[nn.Conv2d]:
        heads = [self.cls_layer, self.x_layer, self.y_layer, self.nb_x_layer, self.nb_y_layer, self.vis_layer]
        return [h for h in heads if h is not None]

    def grid_size(self, input_size: int) -> int:
        return input_size // self.net_stride

    @property
    def has_visibility(self) -> bool:
        return self.vis_layer is not None

    def forward(self, x: torch.Tensor, offsets: bool = True) -> tuple[torch.Tensor, ...]:
        """(B,3,S,S) -> score, off_x, off_y (B,N,G,G) and nb_x, nb_y (B,N*K,G,G) [, visibility logits (B,N,G,G)].

        With `offsets=False`: score and the features on the heads' grid (B,C,G,G) only, for
        `Decoder.at_cells`, which evaluates the offset heads just at the cells decoding reads
        (inference); `offset_maps` evaluates them everywhere (training)."""
        f = self.backbone(x)
        hs = self.head_stride
        f = f[..., ::hs, ::hs] if hs > 1 else f
        if not offsets:
            return self.cls_layer(f), f
        maps = (self.cls_layer(f), *self.offset_maps(f))
        return maps + (self.vis_layer(f),) if self.vis_layer is not None else maps

    def offset_maps(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Features on the heads' grid -> off_x, off_y (B,N,G,G), nb_x, nb_y (B,N*K,G,G) (empty if K = 0)."""
        ox, oy = self.x_layer(f), self.y_layer(f)
        if self.nb_x_layer is None:
            return ox, oy, ox[:, :0], ox[:, :0]
        return ox, oy, self.nb_x_layer(f), self.nb_y_layer(f)

    def point_heads(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The offset heads regrouped per landmark: weight (N, 2 + 2K [+ 1], C), bias (N, 2 + 2K [+ 1]), rows
        own x, own y, then the K neighbour x and K neighbour y offsets that landmark predicts, then its
        visibility logit when the model has one."""
        n, k = self.num_points, self.num_nb
        layers = [self.x_layer, self.y_layer] + ([self.nb_x_layer, self.nb_y_layer] if k else [])
        layers += [self.vis_layer] if self.vis_layer is not None else []
        ws = [h.weight.flatten(1).reshape(n, -1, h.weight.shape[1]) for h in layers]   # (N, 1 or K, C)
        bs = [h.bias.reshape(n, -1) for h in layers]
        return torch.cat(ws, dim=1), torch.cat(bs, dim=1)


def bn_stats_from_noise_(model: nn.Module, forward, size: int, g: torch.Generator) -> None:
    """Every BatchNorm's running statistics re-estimated on one batch of noise through `forward`, then
    eval mode: a fresh network's eval-mode features are ~1e-9, so every input would look alike."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        forward(torch.randn(8, 3, size, size, generator=g))
    model.eval()


def lifelike_init_(model: PIPNet, size: int, seed: int = 0) -> PIPNet:
    """Give a freshly initialised PIPNet input-dependent outputs in a trained model's range, in place.

    For export parity checks and speed benchmarks without a trained model: fresh MobileNetV2
    features are ~1e-9 in eval mode, so every crop would decode to the same points. Re-estimating
    the BatchNorm statistics on noise makes features O(1); each head is then redrawn and scaled
    so scores spread around 0.4 and offsets around 0.5 (neighbour offsets wider).
    """
    g = torch.Generator().manual_seed(seed)
    bn_stats_from_noise_(model, model.backbone, size, g)
    with torch.no_grad():
        f = model.backbone(torch.randn(4, 3, size, size, generator=g))
        for head, spread, centre in ((model.cls_layer, 0.25, 0.4), (model.x_layer, 0.3, 0.5),
                                     (model.y_layer, 0.3, 0.5), (model.nb_x_layer, 0.5, 0.5),
                                     (model.nb_y_layer, 0.5, 0.5), (model.vis_layer, 2.0, 1.0)):
            if head is None:  # num_nb = 0
                continue
            head.weight.copy_(torch.randn(head.weight.shape, generator=g))
            head.bias.zero_()
            head.weight.mul_(spread / head(f).std().clamp(min=1e-12))
            head.bias.fill_(centre).sub_(head(f).mean())
    return model
