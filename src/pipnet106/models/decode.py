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


def decode(outputs: tuple[torch.Tensor, ...], decoder: Decoder) -> tuple[torch.Tensor, torch.Tensor]:
    """Functional form: PIPNet outputs tuple -> (points (B,N,2) normalized, conf (B,N))."""
    return decoder(*outputs[:5])
