"""Targets, loss and decoder: encode/decode round trips, masking, batching."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pipnet106.models.decode import Decoder, decode
from pipnet106.models.loss import pip_loss
from pipnet106.data.meanface import neighbors, reverse_index
from pipnet106.data.targets import encode

N, K = 106, 10


def _nb(n=N, k=K, seed=0):
    mf = np.random.default_rng(seed).uniform(0.1, 0.9, size=(n, 2))
    return neighbors(mf, k)


def _collate(items):
    return {key: torch.as_tensor(np.stack([it[key] for it in items])) for key in items[0]}


def _maps(t, grid):
    """Perfect network outputs for collated targets: one-hot scores, offsets written at the GT cell."""
    b, n = t["cell"].shape
    k = t["nb_offset"].shape[2]
    gg = grid * grid
    idx = t["cell"][..., None]
    score = torch.zeros(b, n, gg).scatter_(2, idx, 1.0)
    ox = torch.zeros(b, n, gg).scatter_(2, idx, t["offset"][..., 0:1])
    oy = torch.zeros(b, n, gg).scatter_(2, idx, t["offset"][..., 1:2])
    nidx = idx[:, :, None, :].expand(b, n, k, 1)
    nx = torch.zeros(b, n, k, gg).scatter_(3, nidx, t["nb_offset"][..., 0:1])
    ny = torch.zeros(b, n, k, gg).scatter_(3, nidx, t["nb_offset"][..., 1:2])
    shp = (b, -1, grid, grid)
    return tuple(m.reshape(shp) for m in (score, ox, oy, nx, ny))


# ------------------------------------------------------------------ targets

def test_encode_values_and_conventions():
    pts = np.array([[0.0, 0.0], [0.99, 0.26], [1.2, -0.1], [0.5, 0.5]])
    mask = np.array([True, True, True, False])
    nb = np.array([[1], [0], [3], [0]])
    t = encode(pts, mask, 4, nb)
    assert t["cell"].dtype == np.int64 and t["offset"].dtype == np.float32
    # (0.99, 0.26) * 4 = (3.96, 1.04) -> cell (3, 1) -> flat 1*4+3
    assert t["cell"].tolist()[:3] == [0, 7, 3]
    np.testing.assert_allclose(t["offset"][1], [0.96, 0.04], atol=1e-6)
    # outside the crop: cell clamped to (3, 0), offset outside [0, 1)
    np.testing.assert_allclose(t["offset"][2], [1.8, -0.4], atol=1e-6)
    # neighbour of point 0 is point 1, relative to point 0's cell (0, 0)
    np.testing.assert_allclose(t["nb_offset"][0, 0], [3.96, 1.04], atol=1e-6)
    assert t["mask"].tolist() == [1, 1, 1, 0]
    # point 2's neighbour is masked point 3; point 3 itself is masked
    assert t["nb_mask"][:, 0].tolist() == [1, 1, 0, 0]
    assert np.all(t["offset"][3] == 0) and np.all(t["nb_offset"][2] == 0)


def test_encode_nan_point_is_masked():
    pts = np.array([[0.2, 0.3], [np.nan, 0.5]])
    t = encode(pts, np.array([True, True]), 8, np.array([[1], [0]]))
    assert t["mask"].tolist() == [1, 0] and t["nb_mask"].tolist() == [[0], [0]]
    assert all(np.isfinite(v).all() for v in t.values())


# ------------------------------------------------------------------ round trip

@pytest.mark.parametrize("grid", [1, 2, 4, 8, 16, 32, 64, 128])
def test_decode_encode_round_trip(grid):
    rng = np.random.default_rng(grid)
    nb = _nb()
    decoder = Decoder(reverse_index(nb), K)
    pts = rng.uniform(-0.05, 1.05, size=(2, N, 2))  # a few points outside the crop on purpose
    pts[0, :4] = [[0.0, 0.0], [1.0 - 1e-7, 1.0 - 1e-7], [0.5, 0.5], [0.25, 0.75]]
    t = _collate([encode(p, np.ones(N, bool), grid, nb) for p in pts])
    out, conf = decode(_maps(t, grid), decoder)
    assert out.shape == (2, N, 2) and conf.shape == (2, N)
    err_cells = (out.double() - torch.as_tensor(pts)).abs().max().item() * grid
    assert err_cells < 1e-4
    assert torch.all(conf == 1.0)


def test_perfect_maps_give_zero_loss():
    nb = _nb()
    pts = np.random.default_rng(1).uniform(0, 1, size=(2, N, 2))
    mask = np.ones((2, N), bool)
    mask[1, 5] = False
    t = _collate([encode(p, m, 8, nb) for p, m in zip(pts, mask)])
    total, parts = pip_loss(_maps(t, 8), t)
    assert total.item() < 1e-10 and set(parts) == {"score", "offset", "nb"}


# ------------------------------------------------------------------ decoder

def _naive_decode(outputs, nb):
    """Loop reference, independent of the reverse index."""
    score, ox, oy, nx, ny = (o.double() for o in outputs)
    b, n, g, _ = score.shape
    k = nb.shape[1]
    res = torch.zeros(b, n, 2, dtype=torch.float64)
    for bi in range(b):
        preds = [[] for _ in range(n)]
        for j in range(n):
            c = int(score[bi, j].flatten().argmax())
            cy, cx = divmod(c, g)
            preds[j].append(((cx + ox[bi, j].flatten()[c]) / g, (cy + oy[bi, j].flatten()[c]) / g))
            for s in range(k):
                i = nb[j, s]
                preds[i].append(((cx + nx[bi, j * k + s].flatten()[c]) / g, (cy + ny[bi, j * k + s].flatten()[c]) / g))
        for i in range(n):
            res[bi, i] = torch.tensor(preds[i]).mean(dim=0)
    return res


def test_decoder_matches_naive_loop():
    n, k, g = 12, 3, 4
    nb = _nb(n, k, seed=3)
    torch.manual_seed(0)
    outs = (torch.randn(2, n, g, g), torch.rand(2, n, g, g), torch.rand(2, n, g, g),
            torch.randn(2, n * k, g, g), torch.randn(2, n * k, g, g))
    pts, _ = Decoder.from_neighbors(nb)(*outs)
    torch.testing.assert_close(pts.double(), _naive_decode(outs, nb), atol=1e-6, rtol=0)


def test_decoder_conf_range_and_batch_consistency():
    nb = _nb()
    decoder = Decoder(reverse_index(nb), K)
    torch.manual_seed(0)
    outs = tuple(torch.randn(3, c, 4, 4) * 3 for c in (N, N, N, N * K, N * K))
    outs[0][1] = -outs[0][1].abs() - 0.1  # every score negative -> conf 0
    outs[0][2] *= 0.02                     # small scores -> conf strictly inside (0, 1)
    pts, conf = decoder(*outs)
    assert conf.min() >= 0 and conf.max() <= 1
    assert torch.all(conf[0] == 1) and torch.all(conf[1] == 0)
    assert torch.all((conf[2] > 0) & (conf[2] < 1))
    for i in range(3):
        p1, c1 = decoder(*(o[i:i + 1] for o in outs))
        torch.testing.assert_close(p1, pts[i:i + 1], rtol=0, atol=1e-7)
        torch.testing.assert_close(c1, conf[i:i + 1], rtol=0, atol=0)


def test_decoder_without_neighbours():
    decoder = Decoder(reverse_index(np.zeros((5, 0), np.int64)), 0)
    score = torch.zeros(1, 5, 2, 2)
    score[0, :, 1, 0] = 0.7  # cell (x=0, y=1)
    ox = torch.full((1, 5, 2, 2), 0.5)
    pts, conf = decoder(score, ox, ox, torch.zeros(1, 0, 2, 2), torch.zeros(1, 0, 2, 2))
    torch.testing.assert_close(pts[0, 0], torch.tensor([0.25, 0.75]))
    torch.testing.assert_close(conf, torch.full((1, 5), 0.7))


# ------------------------------------------------------------------ loss

def _random_outputs(b, n, k, g, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(b, c, g, g, generator=gen).requires_grad_(True)
                 for c in (n, n, n, n * k, n * k))


def _loss_and_grads(t, seed=0):
    outs = _random_outputs(2, N, K, 4, seed)
    total, parts = pip_loss(outs, t)
    grads = torch.autograd.grad(total, outs)
    return total, parts, grads


def test_loss_masked_point_changes_nothing():
    nb = _nb()
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1, size=(2, N, 2))
    mask = np.ones((2, N), bool)
    mask[0, 7] = mask[1, 50] = False
    base = _collate([encode(p, m, 4, nb) for p, m in zip(pts, mask)])
    total0, parts0, grads0 = _loss_and_grads(base)

    # perturb the masked points' targets (including garbage cells and NaN offsets) and mask entries
    bad = {k: v.clone() for k, v in base.items()}
    bad["cell"][0, 7] = 3
    bad["cell"][1, 50] = 9999
    bad["offset"][0, 7] = torch.tensor([float("nan"), 5.0])
    bad["nb_offset"][1, 50] = 123.0
    nbm = torch.as_tensor(nb)
    bad["nb_offset"][0][nbm == 7] = float("nan")  # entries whose neighbour is the masked point
    total1, parts1, grads1 = _loss_and_grads(bad)
    assert torch.equal(total0, total1)
    for a, b in zip(grads0, grads1):
        assert torch.equal(a, b)
    # the masked landmark's own channels get no gradient at all
    assert torch.all(grads0[0][0, 7] == 0) and torch.all(grads0[1][1, 50] == 0)

    # sanity: perturbing a valid point does change the loss
    moved = {k: v.clone() for k, v in base.items()}
    moved["offset"][0, 8] += 0.3
    total2, _, _ = _loss_and_grads(moved)
    assert not torch.equal(total0, total2)


def test_loss_all_masked_is_zero_and_finite():
    nb = _nb()
    pts = np.full((2, N, 2), np.nan)
    t = _collate([encode(p, np.zeros(N, bool), 4, nb) for p in pts])
    total, parts, grads = _loss_and_grads(t)
    assert total.item() == 0.0 and all(v.item() == 0.0 for v in parts.values())
    assert all(torch.isfinite(g).all() and torch.all(g == 0) for g in grads)


def test_loss_hand_computed_value():
    # one landmark, one neighbour (itself is impossible, so two landmarks), grid 2
    nb = np.array([[1], [0]])
    pts = np.array([[0.25, 0.25], [0.75, 0.25]])  # cells (0,0) and (1,0); offsets 0.5
    t = _collate([encode(pts, np.array([True, True]), 2, nb)])
    score = torch.zeros(1, 2, 2, 2)  # score error: each landmark misses its one-hot 1 -> 1/4 per cell
    ox = torch.zeros(1, 2, 2, 2)     # |0 - 0.5| twice (x and y) per landmark -> offset loss 1.0
    nbx = torch.zeros(1, 2, 2, 2)    # neighbour targets: lm0 sees lm1 at (1.5, 0.5); lm1 sees lm0 at (-0.5, 0.5)
    total, parts = pip_loss((score, ox, ox, nbx, nbx), t, cls_weight=10.0, reg_weight=1.0)
    assert parts["score"].item() == pytest.approx(0.25)
    assert parts["offset"].item() == pytest.approx(1.0)
    assert parts["nb"].item() == pytest.approx(((1.5 + 0.5) + (0.5 + 0.5)) / 2)
    assert total.item() == pytest.approx(10 * 0.25 + 1.0 + 1.5)


def test_loss_without_neighbours():
    t = _collate([encode(np.array([[0.1, 0.2], [0.6, 0.7]]), np.array([True, True]), 2, np.zeros((2, 0), np.int64))])
    outs = _random_outputs(1, 2, 0, 2)
    total, parts = pip_loss(outs, t)
    total.backward()
    assert parts["nb"].item() == 0.0 and torch.isfinite(total)
