"""PIPNet: a backbone plus five 1x1 conv heads on the final feature map.

For N landmarks and K neighbours the heads predict, per grid cell:
score (N), own x/y offsets (N each) and the x/y offsets of each landmark's K
neighbours (N*K each), all relative to that cell (see DESIGN.md for the grid
conventions). Net strides coarser than the backbone's are reached with a strided
head conv, so a stride-64 net on a stride-32 backbone uses stride-2 heads.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import UserError


class PIPNet(nn.Module):
    def __init__(self, backbone: nn.Module, num_points: int, num_nb: int, net_stride: int = 32) -> None:
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
        c = int(backbone.out_channels)
        n, k = self.num_points, self.num_nb
        self.cls_layer = nn.Conv2d(c, n, 1, stride=hs)
        self.x_layer = nn.Conv2d(c, n, 1, stride=hs)
        self.y_layer = nn.Conv2d(c, n, 1, stride=hs)
        # num_nb=0 (no neighbour regression): the nb outputs are empty (B,0,G,G) tensors
        self.nb_x_layer = nn.Conv2d(c, n * k, 1, stride=hs) if k else None
        self.nb_y_layer = nn.Conv2d(c, n * k, 1, stride=hs) if k else None
        for head in self.heads():
            nn.init.normal_(head.weight, std=0.001)
            nn.init.zeros_(head.bias)

    def heads(self) -> list[nn.Conv2d]:
        heads = [self.cls_layer, self.x_layer, self.y_layer, self.nb_x_layer, self.nb_y_layer]
        return [h for h in heads if h is not None]

    def grid_size(self, input_size: int) -> int:
        return input_size // self.net_stride

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B,3,S,S) -> score, off_x, off_y (B,N,G,G) and nb_x, nb_y (B,N*K,G,G)."""
        f = self.backbone(x)
        score = self.cls_layer(f)
        if self.nb_x_layer is None:
            empty = score[:, :0]
            return score, self.x_layer(f), self.y_layer(f), empty, empty
        return score, self.x_layer(f), self.y_layer(f), self.nb_x_layer(f), self.nb_y_layer(f)


def lifelike_init_(model: PIPNet, size: int, seed: int = 0) -> PIPNet:
    """Give a freshly initialised PIPNet input-dependent outputs in a trained model's range, in place.

    For export parity checks and speed benchmarks without a trained model: fresh MobileNetV2
    features are ~1e-9 in eval mode, so every crop would decode to the same points. Re-estimating
    the BatchNorm statistics on noise makes features O(1); each head is then redrawn and scaled
    so scores spread around 0.4 and offsets around 0.5 (neighbour offsets wider).
    """
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model.backbone(torch.randn(8, 3, size, size, generator=g))
        model.eval()
        f = model.backbone(torch.randn(4, 3, size, size, generator=g))
        for head, spread, centre in ((model.cls_layer, 0.25, 0.4), (model.x_layer, 0.3, 0.5),
                                     (model.y_layer, 0.3, 0.5), (model.nb_x_layer, 0.5, 0.5),
                                     (model.nb_y_layer, 0.5, 0.5)):
            head.weight.copy_(torch.randn(head.weight.shape, generator=g))
            head.bias.zero_()
            head.weight.mul_(spread / head(f).std().clamp(min=1e-12))
            head.bias.fill_(centre).sub_(head(f).mean())
    return model
