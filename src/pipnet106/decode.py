"""PIPNet decoding: heat maps + offsets -> landmarks, batched and ONNX-exportable.

For every landmark the best cell is the argmax of its score map; its own
prediction is (cell + offset) / grid. Every landmark j also predicts its K
neighbours from j's best cell. Landmark i's final position is the mean of its own
prediction and all predictions made of it by other landmarks (the reverse index,
padded with a mask so padding never enters the mean).

Only static-shape ops are used (flatten, argmax, gather, index_select with constant
indices), so the whole thing traces to a fixed ONNX graph with a dynamic batch.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from .meanface import ReverseIndex, reverse_index


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

    def forward(self, score: torch.Tensor, off_x: torch.Tensor, off_y: torch.Tensor,
                nb_x: torch.Tensor, nb_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, k = self.num_points, self.num_nb
        gw = score.shape[-1]
        s = score.flatten(2)                                   # (B, N, G*G)
        cell = s.argmax(dim=2, keepdim=True)                   # (B, N, 1)
        conf = s.gather(2, cell).squeeze(2).clamp(0.0, 1.0)
        cy = torch.div(cell, gw, rounding_mode="trunc")  # cell >= 0: trunc == floor, exports as one Div
        cx = cell - cy * gw
        cxf, cyf = cx.to(score.dtype), cy.to(score.dtype)      # (B, N, 1)
        ox = off_x.flatten(2).gather(2, cell)
        oy = off_y.flatten(2).gather(2, cell)
        own_x = ((cxf + ox) / gw).squeeze(2)                   # (B, N)
        own_y = ((cyf + oy) / gw).squeeze(2)
        if k == 0:
            return torch.stack([own_x, own_y], dim=2), conf

        # predictions of landmark j's neighbours at j's best cell: (B, N*K)
        nidx = cell.unsqueeze(2).expand(-1, -1, k, -1)         # (B, N, K, 1)
        nx = nb_x.flatten(2).unflatten(1, (n, k)).gather(3, nidx).squeeze(3)
        ny = nb_y.flatten(2).unflatten(1, (n, k)).gather(3, nidx).squeeze(3)
        px = ((cxf + nx) / gw).flatten(1)
        py = ((cyf + ny) / gw).flatten(1)

        # what the others say about landmark i, through the reverse index: (B, N, R)
        r = self.idx.shape[1]
        gx = px.index_select(1, self.flat).unflatten(1, (n, r))
        gy = py.index_select(1, self.flat).unflatten(1, (n, r))
        w = self.mask
        denom = 1.0 + w.sum(dim=1)                              # (N,)
        x = (own_x + (gx * w).sum(dim=2)) / denom
        y = (own_y + (gy * w).sum(dim=2)) / denom
        return torch.stack([x, y], dim=2), conf


def decode(outputs: tuple[torch.Tensor, ...], decoder: Decoder) -> tuple[torch.Tensor, torch.Tensor]:
    """Functional form: PIPNet outputs tuple -> (points (B,N,2) normalized, conf (B,N))."""
    return decoder(*outputs)
