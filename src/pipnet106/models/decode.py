"""PIPNet decoding: heat maps + offsets -> landmarks, batched and ONNX-exportable.

For every landmark the best cell is the argmax of its score map; its own
prediction is (cell + offset) / grid. Every landmark j also predicts its K
neighbours from j's best cell. Landmark i's final position is the mean of its own
prediction and all predictions made of it by other landmarks (the reverse index,
padded with a mask so padding never enters the mean).

`Decoder.forward` decodes the five maps (training, evaluation); `Decoder.at_cells`
gives the same points from the features, evaluating the offset heads only at the
cells decoding reads (the exported graph, where the full neighbour maps were
most of the work).

Only static-shape ops are used (flatten, argmax, gather, index_select with constant
indices), so the whole thing traces to a fixed ONNX graph with a dynamic batch.
`DenseDecoding` computes the same points without argmax, gather or integer tensors,
for runtimes that have none of them (ncnn, `deploy.mobile`).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from ..data.meanface import ReverseIndex, reverse_index


class Decoder(nn.Module):
    """forward(score, off_x, off_y, nb_x, nb_y) -> (points (B,N,2) normalized to the crop, conf (B,N))."""

    def __init__(self, rev: ReverseIndex, num_nb: int) -> None:
        super().__init__()
        idx = torch.as_tensor(np.asarray(rev.idx), dtype=torch.long)
        slot = torch.as_tensor(np.asarray(rev.slot), dtype=torch.long)
        self.num_points = int(idx.shape[0])
        self.num_nb = int(num_nb)
        if self.num_nb and int(slot.max()) >= self.num_nb:
            raise ValueError(f"reverse index uses slot {int(slot.max())} but num_nb is {num_nb}")
        self.register_buffer("idx", idx, persistent=False)
        self.register_buffer("slot", slot, persistent=False)
        self.register_buffer("mask", torch.as_tensor(np.asarray(rev.mask), dtype=torch.float32), persistent=False)
        # flat position of (owner, slot) in the (N*K) neighbour predictions
        self.register_buffer("flat", (idx * max(self.num_nb, 1) + slot).reshape(-1), persistent=False)

    @classmethod
    def from_neighbors(cls, nb: np.ndarray) -> "Decoder":
        """Build from an (N, K) neighbour table (see `meanface.neighbors`)."""
        nb = np.asarray(nb, dtype=np.int64)
        return cls(reverse_index(nb), nb.shape[1])

    def best_cells(self, score: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each landmark's best cell (B, N, 1), flat index into its G*G map, and its score (B, N) in [0, 1]."""
        s = score.flatten(2)                                   # (B, N, G*G)
        cell = s.argmax(dim=2, keepdim=True)
        return cell, s.gather(2, cell).squeeze(2).clamp(0.0, 1.0)

    def steady(self, score: torch.Tensor, margin: float) -> torch.Tensor:
        """(B, N) bool: landmarks whose point cannot move by a cell when the score maps move by less
        than `margin / 2`: their own best cell and that of every landmark voting for them (the reverse
        index) beat the runner-up by more than `margin`. Elsewhere two runtimes that round differently
        may pick different, equally good cells, so parity checks compare points only here."""
        top2 = torch.topk(score.flatten(2).double(), 2, dim=2).values                 # (B, N, 2)
        tied = (top2[..., 0] - top2[..., 1]) <= margin                                 # (B, N)
        voters = tied[:, self.idx] & (self.mask > 0)                                   # (B, N, R)
        return ~(tied | voters.any(dim=2))

    def forward(self, score: torch.Tensor, off_x: torch.Tensor, off_y: torch.Tensor,
                nb_x: torch.Tensor, nb_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, k = self.num_points, self.num_nb
        cell, conf = self.best_cells(score)
        ox = off_x.flatten(2).gather(2, cell).squeeze(2)       # (B, N)
        oy = off_y.flatten(2).gather(2, cell).squeeze(2)
        if k == 0:
            return self.merge(cell, score.shape[-1], ox, oy, None, None), conf
        # predictions of landmark j's neighbours at j's best cell: (B, N, K)
        nidx = cell.unsqueeze(2).expand(-1, -1, k, -1)         # (B, N, K, 1)
        nx = nb_x.flatten(2).unflatten(1, (n, k)).gather(3, nidx).squeeze(3)
        ny = nb_y.flatten(2).unflatten(1, (n, k)).gather(3, nidx).squeeze(3)
        return self.merge(cell, score.shape[-1], ox, oy, nx, ny), conf

    def at_cells(self, score: torch.Tensor, feats: torch.Tensor, weight: torch.Tensor,
                 bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The points of `forward`, with the offset heads evaluated only where decoding reads them.

        Decoding reads the 2 + 2K offset maps of landmark j at j's best cell only, so instead of
        five full 1x1 convolutions (most of them the N*K-channel neighbour heads) this gathers
        each landmark's feature vector at its best cell and applies that landmark's own rows of
        the heads: G*G times fewer multiply-adds (16x at input 128, 64x at 256), same function.
        `feats` (B, C, G, G) are the features on the heads' grid, `weight` (N, 2 + 2K, C) and
        `bias` (N, 2 + 2K) each landmark's rows in the order own x, own y, K neighbour x, K
        neighbour y (`PIPNet.point_heads`), then any further per-point rows (the visibility logit),
        returned third, (B, N, E) with E = 0 when there are none.
        """
        k = self.num_nb
        cell, conf = self.best_cells(score)
        b, c = feats.shape[0], feats.shape[1]
        g2 = feats.shape[2] * feats.shape[3]
        rows = cell.squeeze(2) + torch.arange(b, device=cell.device).unsqueeze(1) * g2   # (B, N) into B*G*G
        f = feats.flatten(2).transpose(1, 2).reshape(-1, c)[rows]                        # (B, N, C)
        # one (1, C) x (C, 2 + 2K) product per face and landmark: a face's points do not depend on the
        # batch it came in (one (B, C) product per landmark would sum in a batch-size-dependent order)
        v = torch.matmul(f.unsqueeze(2), weight.transpose(1, 2)).squeeze(2) + bias      # (B, N, 2 + 2K)
        nx, ny = (v[..., 2:2 + k], v[..., 2 + k:2 + 2 * k]) if k else (None, None)
        return self.merge(cell, score.shape[-1], v[..., 0], v[..., 1], nx, ny), conf, v[..., 2 + 2 * k:]

    def merge(self, cell: torch.Tensor, gw: int, ox: torch.Tensor, oy: torch.Tensor,
              nx: torch.Tensor | None, ny: torch.Tensor | None) -> torch.Tensor:
        """Offsets read at the best cells -> points (B, N, 2): each landmark's own prediction
        averaged with every prediction the others make of it (the reverse index)."""
        n = self.num_points
        cy = torch.div(cell, gw, rounding_mode="trunc")  # cell >= 0: trunc == floor, exports as one Div
        cxf, cyf = (cell - cy * gw).squeeze(2).to(ox.dtype), cy.squeeze(2).to(ox.dtype)   # (B, N)
        own_x, own_y = (cxf + ox) / gw, (cyf + oy) / gw
        if nx is None:
            return torch.stack([own_x, own_y], dim=2)
        px = ((cxf.unsqueeze(2) + nx) / gw).flatten(1)         # (B, N*K)
        py = ((cyf.unsqueeze(2) + ny) / gw).flatten(1)
        r = self.idx.shape[1]
        gx = px.index_select(1, self.flat).unflatten(1, (n, r))  # (B, N, R)
        gy = py.index_select(1, self.flat).unflatten(1, (n, r))
        w = self.mask
        denom = 1.0 + w.sum(dim=1)                              # (N,)
        x = (own_x + (gx * w).sum(dim=2)) / denom
        y = (own_y + (gy * w).sum(dim=2)) / denom
        return torch.stack([x, y], dim=2)


class DenseDecoding(nn.Module):
    """`Decoder.at_cells` without argmax, gather or integer tensors, for runtimes that lack them (ncnn).

    Each landmark's best cell becomes a weight over its G*G cells: 1 where the score equals the
    landmark's maximum, 0 where it falls short by 2^-24 or more (`1 - clamp(clamp((max - s) * 2^12,
    0, 1) * 2^12, 0, 1)`: in two steps, so no intermediate leaves float16's range on runtimes that
    compute in half precision; one step would make 0 * inf = NaN at the best cell there). Matmuls
    with that weight then read what argmax and gather read: the features at the best cell and the
    cell's column and row; the reverse index becomes a constant (N*K, N) matrix of the mask weights.
    The same points as `at_cells` wherever the best cell is unique; cells tied to the last bit share
    the weight (argmax takes the first of them).
    """

    def __init__(self, decoder: Decoder, grid: int) -> None:
        super().__init__()
        n, k = decoder.num_points, decoder.num_nb
        self.grid, self.num_nb = int(grid), k
        cells = torch.arange(self.grid * self.grid)
        # (G*G, 2): each cell's column and row
        self.register_buffer("cell_xy", torch.stack([cells % self.grid, cells // self.grid], dim=1).float(),
                             persistent=False)
        select = torch.zeros(n * max(k, 1), n)                    # neighbour prediction -> landmark it votes for
        targets = torch.arange(n).unsqueeze(1).expand_as(decoder.idx).reshape(-1)
        select.index_put_((decoder.flat, targets), decoder.mask.reshape(-1), accumulate=True)
        self.register_buffer("select", select, persistent=False)
        self.register_buffer("denom", 1.0 + decoder.mask.sum(dim=1), persistent=False)

    def best_cell_weights(self, score: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, G*G) weights summing to 1, all on each landmark's best cell, and its score (B, N) in [0, 1]."""
        s = score.flatten(2)
        top = s.amax(dim=2, keepdim=True)
        hot = 1.0 - (((top - s) * 4096.0).clamp(0.0, 1.0) * 4096.0).clamp(0.0, 1.0)
        return hot / hot.sum(dim=2, keepdim=True), top.squeeze(2).clamp(0.0, 1.0)

    def forward(self, score: torch.Tensor, feats: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Arguments and result as `Decoder.at_cells` (points, conf, further per-point rows such as
        the visibility logit, (B, N, E))."""
        hot, conf = self.best_cell_weights(score)
        f = torch.matmul(hot, feats.flatten(2).transpose(1, 2))                      # (B, N, C)
        v = torch.matmul(f.unsqueeze(2), weight.transpose(1, 2)).squeeze(2) + bias   # (B, N, 2 + 2K + E)
        cxy = torch.matmul(hot, self.cell_xy)                                         # (B, N, 2)
        g, k = float(self.grid), self.num_nb
        own = (cxy + v[..., 0:2]) / g
        extra = v[..., 2 + 2 * k:]
        if k == 0:
            return own, conf, extra
        px = ((cxy[..., 0:1] + v[..., 2:2 + k]) / g).flatten(1)                       # (B, N*K)
        py = ((cxy[..., 1:2] + v[..., 2 + k:2 + 2 * k]) / g).flatten(1)
        x = (own[..., 0] + torch.matmul(px, self.select)) / self.denom
        y = (own[..., 1] + torch.matmul(py, self.select)) / self.denom
        return torch.stack([x, y], dim=2), conf, extra


def decode(outputs: tuple[torch.Tensor, ...], decoder: Decoder) -> tuple[torch.Tensor, torch.Tensor]:
    """Functional form: PIPNet outputs tuple -> (points (B,N,2) normalized, conf (B,N))."""
    return decoder(*outputs[:5])
