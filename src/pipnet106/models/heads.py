"""The other landmark heads on PIPNet's backbones: coordinate regression, SimCC and a heatmap.

Config key `head` (`constants.HEAD_NAMES`) picks one; `pip` (the default) is `models.pipnet.PIPNet`.
Each network here reads the backbone's own map (stride 16 with `net_stride: 16`, else 32), names its
backbone `backbone` (so `--init starter` fills it and the head starts fresh) and returns a tuple of
raw maps that its decoder (`models.head_codecs`) turns into (points, conf), as PIPNet's five maps are
by `models.decode.Decoder`: training, evaluation and the exported graph call them the same way.

- regression (PFLD-style): the global average of the features next to a 64-channel 1x1 reduction of
  the map, flattened (PFLD's pooled stage features and its full-map "S3" branch) -> one Linear -> 2N
  coordinates; the bias starts at the mean face (`init_from_mean_shape`).
- simcc (SimCC / RTMPose-style): a 1x1 conv gives one G*G token per point, a shared Linear + ReLU
  (256) and two Linears classify x and y into `SIMCC_SPLIT` x input-size bins.
- heatmap (SimpleBaseline-style): 4x4 stride-2 transposed convs (BN, ReLU) up to stride 4, a 1x1 conv
  to N heatmaps.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..errors import UserError
from .pipnet import bn_stats_from_noise_

REG_REDUCE = 64
"""Channels of the regression head's 1x1 reduction whose whole map is flattened into the Linear."""
SIMCC_SPLIT = 2.0
"""SimCC bins per input pixel (RTMPose's split ratio 2.0: 0.5-px bins)."""
SIMCC_HIDDEN = 256
"""Width of SimCC's shared per-point layer (RTMPose's 256-d token before its classifiers)."""
HEATMAP_STRIDE = 4
"""The heatmap's stride in input pixels (SimpleBaseline: 64x64 maps for a 256 input)."""
HEATMAP_CHANNELS = 128
"""Channels of each transposed conv (SimpleBaseline uses 256; 128 keeps the head near the backbone's
cost on a phone-sized mobilenet_v2)."""


class HeadNet(nn.Module):
    """Common part: the backbone and its map's size at the configured input."""

    head = ""
    map_names: tuple[str, ...] = ()
    has_visibility = False

    def __init__(self, backbone: nn.Module, num_points: int, input_size: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.num_points = int(num_points)
        self.input_size = int(input_size)
        self.net_stride = int(backbone.stride)
        if input_size % self.net_stride:
            raise UserError(f"input_size {input_size} is not a multiple of the backbone's stride {self.net_stride}")
        self.grid = input_size // self.net_stride


class RegressionNet(HeadNet):
    """(B,3,S,S) -> (coords (B,N,2) normalized to the crop,)."""

    head = "regression"
    map_names = ("coords",)

    def __init__(self, backbone: nn.Module, num_points: int, input_size: int) -> None:
        super().__init__(backbone, num_points, input_size)
        c = int(backbone.out_channels)
        self.reduce = nn.Sequential(nn.Conv2d(c, REG_REDUCE, 1, bias=False), nn.BatchNorm2d(REG_REDUCE),
                                    nn.ReLU(inplace=True))
        self.fc = nn.Linear(c + REG_REDUCE * self.grid * self.grid, 2 * self.num_points)
        nn.init.normal_(self.fc.weight, std=0.001)
        nn.init.constant_(self.fc.bias, 0.5)

    def init_from_mean_shape(self, meanface) -> None:
        """Start at the mean face: the Linear then learns each face's departure from it."""
        with torch.no_grad():
            self.fc.bias.copy_(torch.as_tensor(meanface, dtype=torch.float32).reshape(-1))

    def last_layers(self) -> list[nn.Module]:
        return [self.fc]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        f = self.backbone(x)
        v = torch.cat([f.mean(dim=(2, 3)), self.reduce(f).flatten(1)], dim=1)
        return (self.fc(v).unflatten(1, (self.num_points, 2)),)


class SimCCNet(HeadNet):
    """(B,3,S,S) -> (x logits (B,N,S*k), y logits (B,N,S*k)), k = `SIMCC_SPLIT`."""

    head = "simcc"
    map_names = ("simcc_x", "simcc_y")

    def __init__(self, backbone: nn.Module, num_points: int, input_size: int) -> None:
        super().__init__(backbone, num_points, input_size)
        self.bins = int(round(input_size * SIMCC_SPLIT))
        self.tokens = nn.Conv2d(int(backbone.out_channels), self.num_points, 1)
        self.hidden = nn.Sequential(nn.Linear(self.grid * self.grid, SIMCC_HIDDEN), nn.ReLU(inplace=True))
        self.cls_x = nn.Linear(SIMCC_HIDDEN, self.bins)
        self.cls_y = nn.Linear(SIMCC_HIDDEN, self.bins)

    def last_layers(self) -> list[nn.Module]:
        return [self.cls_x, self.cls_y]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.hidden(self.tokens(self.backbone(x)).flatten(2))     # (B, N, hidden)
        return self.cls_x(h), self.cls_y(h)


class HeatmapNet(HeadNet):
    """(B,3,S,S) -> (heatmaps (B,N,S/4,S/4),)."""

    head = "heatmap"
    map_names = ("heatmap",)

    def __init__(self, backbone: nn.Module, num_points: int, input_size: int) -> None:
        super().__init__(backbone, num_points, input_size)
        ups = int(round(math.log2(self.net_stride / HEATMAP_STRIDE)))
        if ups < 1 or self.net_stride != HEATMAP_STRIDE * 2 ** ups:
            raise UserError(f"head heatmap: a stride-{self.net_stride} backbone cannot be upsampled to stride "
                            f"{HEATMAP_STRIDE} by factors of 2")
        layers: list[nn.Module] = []
        c = int(backbone.out_channels)
        for _ in range(ups):
            layers += [nn.ConvTranspose2d(c, HEATMAP_CHANNELS, 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(HEATMAP_CHANNELS), nn.ReLU(inplace=True)]
            c = HEATMAP_CHANNELS
        self.deconv = nn.Sequential(*layers)
        self.final = nn.Conv2d(c, self.num_points, 1)
        for m in self.deconv.modules():   # SimpleBaseline's initialisation
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, std=0.001)
        nn.init.normal_(self.final.weight, std=0.001)
        nn.init.zeros_(self.final.bias)

    @property
    def map_size(self) -> int:
        return self.input_size // HEATMAP_STRIDE

    def last_layers(self) -> list[nn.Module]:
        return [self.final]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.final(self.deconv(self.backbone(x))),)


HEAD_NETS = {"regression": RegressionNet, "simcc": SimCCNet, "heatmap": HeatmapNet}


def build_head_net(head: str, backbone: nn.Module, num_points: int, input_size: int) -> HeadNet:
    """The network of a non-PIP head on `backbone`."""
    if head not in HEAD_NETS:
        raise UserError(f"unknown head {head!r}; known: pip, {', '.join(HEAD_NETS)}")
    return HEAD_NETS[head](backbone, num_points, input_size)


def init_head(model: nn.Module, meanface) -> None:
    """A new run's head-specific start (before any `init` weights): regression starts at the mean face."""
    if isinstance(model, RegressionNet):
        model.init_from_mean_shape(meanface)


def lifelike_head_init_(model: HeadNet, seed: int = 0) -> HeadNet:
    """Input-dependent outputs from a fresh network, in place (export parity tests and speed checks):
    BatchNorm statistics re-estimated on noise (fresh eval-mode features are ~1e-9), then the last
    layer redrawn so outputs spread like a trained model's (no ties between bins or pixels)."""
    g = torch.Generator().manual_seed(seed)
    bn_stats_from_noise_(model, model, model.input_size, g)
    with torch.no_grad():
        for layer in model.last_layers():
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * 0.05)
    return model
