"""Mean face and the neighbour tables of PIPNet's Neighbor Regression Module.

Neighbours are the `num_nb` nearest landmarks on the mean face (Euclidean,
excluding the landmark itself). Decoding needs the reverse view: for each
landmark, which other landmarks predict it and in which of their slots. That
table is ragged; it is padded to a fixed width with a mask, so padding never
changes the merged average (the original code padded by repetition, which
silently over-weights some neighbours).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..fileio import atomic_write_text, read_text_file


def compute_meanface(points: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Mean of (M, N, 2) shapes; points with mask False (or non-finite) are ignored."""
    pts = np.asarray(points, dtype=np.float64)
    valid = np.isfinite(pts).all(axis=-1)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)
    counts = valid.sum(axis=0)
    if (counts == 0).any():
        missing = np.flatnonzero(counts == 0).tolist()
        raise UserError(f"mean face: landmark(s) {missing} are missing in every sample")
    total = np.where(valid[..., None], pts, 0.0).sum(axis=0)
    return total / counts[:, None]


def fill_meanface(points: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Mean of (M, N, 2) shapes where some points are never labelled (labels converted from another
    layout): those come from `reference` (N, 2), moved, turned and scaled onto the labelled
    points' mean by least squares (a similarity), so neighbour tables stay meaningful.
    -> (mean face, indices filled)."""
    pts = np.asarray(points, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    labelled = np.isfinite(pts).all(axis=-1).any(axis=0)
    filled = np.flatnonzero(~labelled).tolist()
    if not filled:
        return compute_meanface(pts), []
    if labelled.sum() < 2:
        raise UserError("mean face: fewer than 2 points are labelled in any sample")
    mean = np.full(ref.shape, np.nan)
    mean[labelled] = compute_meanface(pts[:, labelled])
    a, b = ref[labelled], mean[labelled]
    ac, bc = a - a.mean(0), b - b.mean(0)
    za, zb = ac[:, 0] + 1j * ac[:, 1], bc[:, 0] + 1j * bc[:, 1]
    k = np.vdot(za, zb) / np.vdot(za, za)        # complex scale-rotation, least squares
    z = k * ((ref[~labelled] - a.mean(0)) @ [1, 1j]) + (b.mean(0) @ [1, 1j])
    mean[~labelled] = np.stack([z.real, z.imag], axis=1)
    return mean, filled


def neighbors(meanface: np.ndarray, num_nb: int) -> np.ndarray:
    """(N, num_nb) indices of the nearest other landmarks, nearest first (ties by index)."""
    mf = np.asarray(meanface, dtype=np.float64)
    n = len(mf)
    if num_nb > n - 1:
        raise UserError(f"num_nb={num_nb} but the layout has only {n} points")
    d = np.linalg.norm(mf[:, None, :] - mf[None, :, :], axis=-1)
    d[np.arange(n), np.arange(n)] = np.inf
    return np.argsort(d, axis=1, kind="stable")[:, :num_nb].astype(np.int64)


@dataclass(frozen=True)
class ReverseIndex:
    """For landmark i, entries j < count[i]: landmark `idx[i, j]` predicts i in its slot `slot[i, j]`."""

    idx: np.ndarray   # (N, R) int64
    slot: np.ndarray  # (N, R) int64
    mask: np.ndarray  # (N, R) bool


def reverse_index(nb: np.ndarray) -> ReverseIndex:
    """Invert an (N, K) neighbour table; padding entries point at (i, 0) with mask False."""
    nb = np.asarray(nb, dtype=np.int64)
    n, k = nb.shape
    owner = np.repeat(np.arange(n), k)       # landmark that makes the prediction
    slot = np.tile(np.arange(k), n)          # its slot
    target = nb.reshape(-1)                  # landmark being predicted
    order = np.lexsort((slot, owner, target))
    owner, slot, target = owner[order], slot[order], target[order]
    counts = np.bincount(target, minlength=n)
    width = max(int(counts.max()) if len(counts) else 0, 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    col = np.arange(len(target)) - starts[target]
    idx = np.repeat(np.arange(n)[:, None], width, axis=1)
    slots = np.zeros((n, width), dtype=np.int64)
    mask = np.zeros((n, width), dtype=bool)
    idx[target, col] = owner
    slots[target, col] = slot
    mask[target, col] = True
    return ReverseIndex(idx, slots, mask)


def save_meanface(path: str | Path, meanface: np.ndarray) -> None:
    """One line ``x1 y1 x2 y2 ...`` (normalized), the format PIPNet users know."""
    atomic_write_text(path, " ".join(f"{v:.6f}" for v in np.asarray(meanface).reshape(-1)) + "\n")


def load_meanface(path: str | Path, num_points: int | None = None) -> np.ndarray:
    p = Path(path)
    text = read_text_file(p, "mean face file")
    try:
        vals = np.array(text.split(), dtype=np.float64)
    except ValueError:
        raise UserError(f"{p}: mean face has non-numeric values") from None
    if len(vals) % 2 or not np.isfinite(vals).all():
        raise UserError(f"{p}: mean face must be finite x y pairs")
    mf = vals.reshape(-1, 2)
    if num_points is not None and len(mf) != num_points:
        raise UserError(f"{p}: mean face has {len(mf)} points but the layout has {num_points}")
    return mf
