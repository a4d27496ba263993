"""PIPNet loss with per-landmark masks.

score: MSE between each landmark's score map and a one-hot at its GT cell; offsets
and neighbour offsets: L1 read at the GT cell (neighbours at the owner's cell).
Each term is averaged over valid entries only, so a missing landmark changes
neither the loss nor any gradient. Masked entries are removed with `torch.where`
(not multiplication) after their targets are zeroed, so even NaN targets are safe.
With every landmark masked the loss is an exact 0 that still backpropagates.
"""
from __future__ import annotations

import torch


def pip_loss(
    outputs: tuple[torch.Tensor, ...],
    targets: dict[str, torch.Tensor],
    cls_weight: float = 10.0,
    reg_weight: float = 1.0,
    vis_weight: float = 1.0,
    point_weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """outputs = (score, off_x, off_y, nb_x, nb_y[, vis]) of PIPNet; targets = collated `targets.encode` dicts.

    Returns (total, {"score", "offset", "nb"[, "vis"]}) with
    total = cls_weight * score + reg_weight * (offset + nb) [+ vis_weight * vis].
    `point_weight` (N,) scales each point's own offset term (e.g. the fine parts'); the visibility
    term is the binary cross-entropy of the visibility logit at the true cell.
    """
    score, off_x, off_y, nb_x, nb_y = (t.float() for t in outputs[:5])
    b, n, gh, gw = score.shape
    gg = gh * gw
    k = nb_x.shape[1] // n if n else 0
    dev = score.device

    valid = targets["mask"].to(dev).reshape(b, n) > 0.5
    nb_valid = targets["nb_mask"].to(dev).reshape(b, n, k) > 0.5
    cell = targets["cell"].to(dev).long().reshape(b, n)
    cell = torch.where(valid, cell, torch.zeros_like(cell)).clamp(0, gg - 1)
    off_t = targets["offset"].to(dev).float().reshape(b, n, 2)
    off_t = torch.where(valid[..., None], off_t, torch.zeros_like(off_t))
    nb_t = targets["nb_offset"].to(dev).float().reshape(b, n, k, 2)
    nb_t = torch.where(nb_valid[..., None], nb_t, torch.zeros_like(nb_t))

    # score: one-hot rebuilt from the cell index
    s = score.reshape(b, n, gg)
    onehot = torch.zeros_like(s).scatter_(2, cell[..., None], 1.0)
    per_lm = ((s - onehot) ** 2).sum(dim=2)  # (B, N)
    zero = s.sum() * 0.0  # keeps the graph alive when everything is masked
    n_valid = valid.sum()
    loss_score = torch.where(valid, per_lm, 0.0).sum() / (n_valid.clamp(min=1) * gg) + zero

    # own offsets at the GT cell
    idx = cell[..., None]
    px = off_x.reshape(b, n, gg).gather(2, idx).squeeze(2)
    py = off_y.reshape(b, n, gg).gather(2, idx).squeeze(2)
    l1 = (px - off_t[..., 0]).abs() + (py - off_t[..., 1]).abs()
    if point_weight is not None:
        l1 = l1 * point_weight.to(dev).reshape(1, n)
    loss_off = torch.where(valid, l1, 0.0).sum() / n_valid.clamp(min=1) + zero

    # neighbour offsets at the owner's GT cell
    if k:
        nidx = cell[:, :, None, None].expand(b, n, k, 1)
        qx = nb_x.reshape(b, n, k, gg).gather(3, nidx).squeeze(3)
        qy = nb_y.reshape(b, n, k, gg).gather(3, nidx).squeeze(3)
        l1n = (qx - nb_t[..., 0]).abs() + (qy - nb_t[..., 1]).abs()
        loss_nb = torch.where(nb_valid, l1n, 0.0).sum() / nb_valid.sum().clamp(min=1) + zero
    else:
        loss_nb = zero

    total = cls_weight * loss_score + reg_weight * (loss_off + loss_nb)
    parts = {"score": loss_score, "offset": loss_off, "nb": loss_nb}
    if len(outputs) > 5:
        logit = outputs[5].float().reshape(b, n, gg).gather(2, idx).squeeze(2)
        vis_t = targets["vis"].to(dev).float().reshape(b, n)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logit, vis_t, reduction="none")
        parts["vis"] = torch.where(valid, bce, 0.0).sum() / n_valid.clamp(min=1) + zero
        total = total + vis_weight * parts["vis"]
    return total, parts
