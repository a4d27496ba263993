"""Targets, losses and decoding of the regression, SimCC and heatmap heads (`models.heads`).

Coordinates are those of every other part of the package: a point is (x, y) normalized to the crop,
x * S a continuous pixel coordinate in which pixel i covers [i, i + 1) (mirroring is x -> 1 - x, as
`data.augment.hflip`). A SimCC bin j (of S * k) and a heatmap pixel j (of S / 4) are centred at
(j + 0.5) / bins of the crop, so mirroring a point is reversing its bins: encoding and decoding
commute with the training's horizontal flip (tests/models/test_heads.py).

Recipes (docs/heads.md):
- regression: Wing loss (Feng et al. 2018, w = 10, eps = 2) on each coordinate, in pixels of a 256-px
  crop whatever the input size; no confidence (conf = 1).
- simcc: Gaussian-smoothed 1-D labels, sigma = 2.83 input px at input 256 scaled with the input
  (RTMPose-face's 5.66 bins at split 2.0), normalized to sum 1; loss KL(label || softmax(logits));
  decoding = argmax per axis (RTMPose), conf = the smaller axis's peak probability over the peak of
  a perfect label (~1 when the network is sure).
- heatmap: Gaussian of sigma 2 heatmap px (peak 1), MSE (SimpleBaseline); decoding = argmax, then
  per axis the vertex of the parabola through the log-heatmap at the argmax and its two neighbours
  (DARK's Taylor step on the log map, without DARK's blur: exact for a Gaussian peak), conf = peak.
All decoders use static-shape ops only (argmax, gather, arithmetic), so they trace into the ONNX file.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .heads import SIMCC_SPLIT

WING_W, WING_EPS = 10.0, 2.0
"""Wing loss width and curvature, in pixels of a `WING_SCALE`-px crop (the paper's values)."""
WING_SCALE = 256.0
SIMCC_SIGMA_256 = 2.83
"""SimCC label sigma in input pixels at input 256 (scaled with the input size)."""
HEATMAP_SIGMA = 2.0
"""Heatmap Gaussian sigma in heatmap pixels (SimpleBaseline's 2)."""


def simcc_sigma_bins(input_size: int) -> float:
    """The SimCC label's sigma in bins for an input of `input_size` px."""
    return SIMCC_SIGMA_256 * input_size / 256.0 * SIMCC_SPLIT


def _valid(targets: dict[str, torch.Tensor], device) -> tuple[torch.Tensor, torch.Tensor]:
    """(points (B,N,2) with missing ones zeroed, valid (B,N) bool) from a collated target dict."""
    pts = targets["points"].to(device).float()
    valid = (targets["mask"].to(device) > 0.5) & torch.isfinite(pts).all(dim=2)
    return torch.where(valid[..., None], pts, torch.zeros_like(pts)), valid


def _masked_mean(per_point: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over valid points; an exact 0 that still backpropagates when none is valid."""
    return torch.where(valid, per_point, 0.0).sum() / valid.sum().clamp(min=1) + per_point.sum() * 0.0


# ------------------------------------------------------------------ targets

def gaussian_1d(centres: torch.Tensor, bins: int, sigma: float) -> torch.Tensor:
    """(...,) centres in bin units (bin j centred at j) -> (..., bins) unnormalized Gaussians (peak <= 1)."""
    j = torch.arange(bins, device=centres.device, dtype=torch.float32)
    return torch.exp(-((j - centres[..., None]) ** 2) / (2.0 * sigma * sigma))


def simcc_labels(points: torch.Tensor, bins: int, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,N,2) normalized points -> x and y label distributions (B,N,bins), each summing to 1."""
    centres = points * bins - 0.5
    lx, ly = (gaussian_1d(centres[..., i], bins, sigma) for i in (0, 1))
    return (lx / lx.sum(-1, keepdim=True).clamp(min=1e-12), ly / ly.sum(-1, keepdim=True).clamp(min=1e-12))


def heatmaps(points: torch.Tensor, size: int, sigma: float = HEATMAP_SIGMA) -> torch.Tensor:
    """(B,N,2) normalized points -> (B,N,size,size) Gaussians of peak 1 at the points."""
    c = points * size - 0.5
    gx, gy = gaussian_1d(c[..., 0], size, sigma), gaussian_1d(c[..., 1], size, sigma)
    return gy[..., :, None] * gx[..., None, :]


# ------------------------------------------------------------------ losses

def wing(err: torch.Tensor, w: float = WING_W, eps: float = WING_EPS) -> torch.Tensor:
    """Wing loss of absolute errors: w ln(1 + |e|/eps) below w, |e| - C above (C keeps it continuous)."""
    c = w - w * math.log(1.0 + w / eps)
    return torch.where(err < w, w * torch.log1p(err / eps), err - c)


def regression_loss(outputs, targets) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    pts, valid = _valid(targets, outputs[0].device)
    err = (outputs[0].float() - pts).abs() * WING_SCALE
    loss = _masked_mean(wing(err).sum(dim=2), valid)
    return loss, {"wing": loss}


def simcc_loss(outputs, targets, input_size: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    lx, ly = (o.float() for o in outputs[:2])
    pts, valid = _valid(targets, lx.device)
    tx, ty = simcc_labels(pts, lx.shape[-1], simcc_sigma_bins(input_size))
    kl = sum((torch.xlogy(t, t) - t * F.log_softmax(lg, dim=-1)).sum(-1) for t, lg in ((tx, lx), (ty, ly)))
    loss = _masked_mean(kl / 2, valid)
    return loss, {"kl": loss}


def heatmap_loss(outputs, targets) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    hm = outputs[0].float()
    pts, valid = _valid(targets, hm.device)
    mse = ((hm - heatmaps(pts, hm.shape[-1])) ** 2).mean(dim=(2, 3))
    loss = _masked_mean(mse, valid)
    return loss, {"mse": loss}


def head_loss(cfg, outputs, targets, point_weight: torch.Tensor | None = None
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The training loss of `cfg.head` (PIPNet's `pip_loss` with the config's weights for `pip`)."""
    head = getattr(cfg, "head", "pip")
    if head == "regression":
        return regression_loss(outputs, targets)
    if head == "simcc":
        return simcc_loss(outputs, targets, cfg.input_size)
    if head == "heatmap":
        return heatmap_loss(outputs, targets)
    from .loss import pip_loss

    return pip_loss(outputs, targets, cfg.cls_weight, cfg.reg_weight, cfg.vis_weight, point_weight)


# ------------------------------------------------------------------ decoding

class RegressionDecoder(nn.Module):
    """forward(coords) -> (points, conf = 1): the network already outputs normalized points."""

    def __init__(self, num_points: int) -> None:
        super().__init__()
        self.num_points = int(num_points)

    def forward(self, coords: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return coords, coords[..., 0] * 0.0 + 1.0   # not ones_like: the tracer would fix its batch size

    def margin(self, coords: torch.Tensor) -> torch.Tensor:
        """How far each point is from a decision that could flip it: never (no argmax)."""
        return torch.full_like(coords[..., 0], math.inf)


def _top2_gap(v: torch.Tensor) -> torch.Tensor:
    top = torch.topk(v.double(), 2, dim=-1).values
    return (top[..., 0] - top[..., 1]).float()


class SimCCDecoder(nn.Module):
    """forward(x logits, y logits) -> (points (B,N,2), conf (B,N)): argmax bin per axis."""

    def __init__(self, num_points: int, input_size: int) -> None:
        super().__init__()
        self.num_points = int(num_points)
        self.bins = int(round(input_size * SIMCC_SPLIT))
        sigma = simcc_sigma_bins(input_size)
        # peak probability of a perfect label centred on a bin: the scale of `conf`
        self.peak = 1.0 / sum(math.exp(-(d * d) / (2.0 * sigma * sigma)) for d in range(-self.bins, self.bins + 1))

    def forward(self, lx: torch.Tensor, ly: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        px, py = F.softmax(lx, dim=-1), F.softmax(ly, dim=-1)
        mx, ix = px.max(dim=-1)
        my, iy = py.max(dim=-1)
        pts = torch.stack([ix, iy], dim=-1).to(lx.dtype)
        pts = (pts + 0.5) / lx.shape[-1]
        conf = (torch.minimum(mx, my) / self.peak).clamp(0.0, 1.0)
        return pts, conf

    def margin(self, lx: torch.Tensor, ly: torch.Tensor) -> torch.Tensor:
        return torch.minimum(_top2_gap(lx), _top2_gap(ly))


class HeatmapDecoder(nn.Module):
    """forward(heatmaps (B,N,H,W)) -> (points, conf): argmax + a parabola on the log map per axis."""

    def __init__(self, num_points: int) -> None:
        super().__init__()
        self.num_points = int(num_points)

    def forward(self, hm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = hm.shape[-2], hm.shape[-1]
        flat = hm.flatten(2)                                          # (B, N, H*W)
        peak, idx = flat.max(dim=2, keepdim=True)
        iy = torch.div(idx, w, rounding_mode="trunc")
        ix = idx - iy * w
        logs = torch.log(flat.clamp(min=1e-10))
        dx = _vertex(logs, idx, 1, ix, w)
        dy = _vertex(logs, idx, w, iy, h)
        x = (ix.to(hm.dtype) + dx + 0.5) / w
        y = (iy.to(hm.dtype) + dy + 0.5) / h
        return torch.cat([x, y], dim=2), peak.squeeze(2).clamp(0.0, 1.0)

    def margin(self, hm: torch.Tensor) -> torch.Tensor:
        return _top2_gap(hm.flatten(2))


def _vertex(logs: torch.Tensor, idx: torch.Tensor, step: int, pos: torch.Tensor, size: int) -> torch.Tensor:
    """Sub-pixel shift along one axis: the vertex of the parabola through the log-heatmap at the argmax
    and its neighbours `step` apart in the flat map, within +-0.5 px; 0 on the border or a flat top."""
    n = logs.shape[2]
    inside = (pos > 0) & (pos < size - 1)
    lm = logs.gather(2, (idx - step).clamp(0, n - 1))
    l0 = logs.gather(2, idx)
    lp = logs.gather(2, (idx + step).clamp(0, n - 1))
    curv = lm - 2.0 * l0 + lp
    ok = inside & (curv < -1e-6)
    shift = 0.5 * (lm - lp) / torch.where(ok, curv, torch.full_like(curv, -1.0))
    return torch.where(ok, shift.clamp(-0.5, 0.5), torch.zeros_like(shift))


def build_decoder(cfg, nb) -> nn.Module:
    """The decoder of `cfg.head`: PIPNet's `Decoder` over the neighbour table `nb` for `pip`."""
    from ..layout import get_layout

    head = getattr(cfg, "head", "pip")
    if head == "pip":
        from ..data.meanface import reverse_index
        from .decode import Decoder

        return Decoder(reverse_index(nb), cfg.num_nb)
    n = get_layout(cfg.layout).num_points
    if head == "regression":
        return RegressionDecoder(n)
    if head == "simcc":
        return SimCCDecoder(n, cfg.input_size)
    return HeatmapDecoder(n)


def head_parity(module, x: torch.Tensor, ort_outputs: list) -> tuple[float, float, float, int]:
    """onnxruntime vs PyTorch for a non-PIP head's `InferenceModule`: (maps diff, points diff, conf diff,
    points checked end to end), as `deploy.export.check_parity` does for PIPNet.

    The raw maps must agree; the graph's decoding must reproduce PyTorch's decoding of the onnxruntime
    maps (same argmax, so no ties); and points whose argmax wins by more than twice the maps'
    disagreement (every regression point) must agree with PyTorch end to end.
    """
    import numpy as np

    with torch.inference_mode():
        maps = module.model(module.preprocess(x))
        tp, tc = (t.numpy() for t in module.decoder(*maps))
        (op, oc), omaps = ort_outputs[:2], ort_outputs[2:]
        if op.shape != tp.shape or oc.shape != tc.shape or len(omaps) != len(maps) or any(
                o.shape != tuple(t.shape) for o, t in zip(omaps, maps)):
            raise ValueError(f"onnxruntime output shapes {[o.shape for o in ort_outputs]} differ from PyTorch")
        dmap = max(float(np.abs(o - t.numpy()).max()) for o, t in zip(omaps, maps))
        rp, rc = (t.numpy() for t in module.decoder(*(torch.from_numpy(o) for o in omaps)))
        steady = module.decoder.margin(*maps).numpy() > 2 * dmap + 1e-6
    dp = float(np.abs(op - rp).max())
    if steady.any():
        dp = max(dp, float(np.abs(op - tp)[steady].max()))
    dc = max(float(np.abs(oc - rc).max()), float(np.abs(oc - tc)[steady].max()) if steady.any() else 0.0)
    return dmap, dp, dc, int(steady.sum())
