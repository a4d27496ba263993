"""PIPNet training targets for one sample, in compact form.

Only the GT cell index and the offsets are stored per sample; the dense score map
(a one-hot per landmark) is rebuilt inside the loss, which is cheaper than collating
N x G x G maps. Grid conventions are those of DESIGN.md: cell = floor(p*grid) clamped
to the grid, own offset = p*grid - cell, neighbour offsets relative to the same cell.
"""
from __future__ import annotations

import numpy as np


def encode(points_norm: np.ndarray, mask: np.ndarray, grid: int, nb: np.ndarray,
           visible: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """(N,2) normalized points + (N,) validity + (N,K) neighbour table -> target dict.

    Keys: ``cell`` (N,) int64 flat index y*grid+x; ``offset`` (N,2) float32;
    ``nb_offset`` (N,K,2) float32; ``mask`` (N,) float32; ``nb_mask`` (N,K) float32
    (valid only when both the owner and the neighbour are valid); ``vis`` (N,) float32, 1 where
    the point is visible (`visible`, all visible when not given; read only for labelled points).
    Invalid or non-finite points get zero targets so no NaN reaches the loss.
    """
    pts = np.asarray(points_norm, dtype=np.float64)
    valid = np.asarray(mask, dtype=bool)
    nb = np.asarray(nb, dtype=np.int64)
    n = len(pts)
    if pts.shape != (n, 2) or valid.shape != (n,) or nb.ndim != 2 or nb.shape[0] != n:
        raise ValueError(f"encode: shapes points {pts.shape}, mask {valid.shape}, nb {nb.shape} do not agree")
    if grid < 1:
        raise ValueError(f"encode: grid must be >= 1 (got {grid})")
    valid = valid & np.isfinite(pts).all(axis=1)
    pts = np.where(valid[:, None], pts, 0.0)

    scaled = pts * grid
    cell_xy = np.clip(np.floor(scaled), 0, grid - 1).astype(np.int64)  # (N, 2) as (cx, cy)
    offset = scaled - cell_xy
    nb_offset = scaled[nb] - cell_xy[:, None, :]  # neighbour positions relative to the owner's cell
    nb_valid = valid[:, None] & valid[nb]
    nb_offset = np.where(nb_valid[..., None], nb_offset, 0.0)
    offset = np.where(valid[:, None], offset, 0.0)
    return {
        "cell": np.where(valid, cell_xy[:, 1] * grid + cell_xy[:, 0], 0).astype(np.int64),
        "offset": offset.astype(np.float32),
        "nb_offset": nb_offset.astype(np.float32),
        "mask": valid.astype(np.float32),
        "nb_mask": nb_valid.astype(np.float32),
        "vis": (np.ones(n, bool) if visible is None else np.asarray(visible, bool)).astype(np.float32),
    }
