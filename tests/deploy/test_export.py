"""ONNX export, InferenceModule preprocessing and the torch / onnxruntime backends."""
from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from pipnet106.deploy import export as export_mod  # noqa: E402
from pipnet106.synth import faces as synth
from pipnet106.infer.backends import OnnxBackend, TorchBackend, load_backend  # noqa: E402
from pipnet106.models.checkpoint import load_model, make_checkpoint  # noqa: E402
from pipnet106.config import Config  # noqa: E402
from pipnet106.crop import crop_from_points  # noqa: E402
from pipnet106.data.dataset import to_input  # noqa: E402
from pipnet106.models.decode import Decoder  # noqa: E402
from pipnet106.errors import UserError  # noqa: E402
from pipnet106.deploy.export import export_onnx  # noqa: E402
from pipnet106.models.inference import InferenceModule  # noqa: E402
from pipnet106.fileio import atomic_torch_save  # noqa: E402
from pipnet106.models.pipnet import lifelike_init_  # noqa: E402
from pipnet106.data.meanface import neighbors  # noqa: E402
from pipnet106.models import build_model  # noqa: E402

SIZE = 64
TOL = 1e-4  # points: fraction of the crop side; conf: score units
ROOT = Path(__file__).resolve().parents[2]

CONFIGS = {  # name -> config overrides
    "color": dict(input_size=SIZE, backbone="mobilenet_v2", width=320, net_stride=32, num_nb=10),
    "gray": dict(input_size=SIZE, backbone="mobilenet_v2", width=320, net_stride=16, num_nb=10, grayscale=True),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """name -> (checkpoint path, uint8 ONNX export path)."""
    root = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    out = {}
    mf = synth.template()
    for name, kw in CONFIGS.items():
        cfg = Config.from_dict(kw)
        model = build_model(cfg, warn_scratch=False)
        lifelike_init_(model, cfg.input_size)
        ck = root / f"{name}.pt"
        atomic_torch_save(ck, make_checkpoint(model, cfg, mf, neighbors(mf, cfg.num_nb)))
        onnx_path = export_onnx(ck, root / f"{name}.onnx")
        out[name] = (ck, onnx_path)
    return out


def _random_crops(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, SIZE, SIZE, 3), dtype=np.uint8)


def _face_crops(n: int, seed: int = 0, gray: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(n):
        image, pts = synth.render_face(rng, 128, 128, gray=gray)
        crops.append(crop_from_points(pts, SIZE, 1.25).apply(image))
    return np.stack(crops)


def _decided(ck: Path, crops: np.ndarray, margin: float = 2 * export_mod.PARITY_TOL) -> np.ndarray:
    """(B, N) True where a point cannot depend on float rounding: its landmark's best cell, and those
    of every landmark voting for it, beat the runner-up by `margin` in PyTorch's maps (runtimes
    differ by ~1e-6 there; the export accepts up to PARITY_TOL, so twice that cannot flip).
    Elsewhere two runtimes may pick different, equally good cells, which is for `check_parity`
    to judge, not for a point comparison."""
    module = InferenceModule.from_checkpoint(ck)
    with torch.inference_mode():
        score = module.model(module.preprocess(torch.from_numpy(crops)))[0]
    top2 = torch.topk(score.flatten(2), 2, dim=2).values.numpy()
    tied = top2[..., 0] - top2[..., 1] <= margin
    dec = module.decoder
    return ~(tied | (tied[:, dec.idx.numpy()] & (dec.mask.numpy() > 0)).any(axis=2))


def _same_points(a: np.ndarray, b: np.ndarray, decided: np.ndarray, tol: float = TOL) -> None:
    """Points agree wherever the cells are decided (most of them: the comparison has teeth)."""
    assert decided.mean() > 0.8, decided.mean()
    assert np.abs(a - b)[decided].max() < tol


def _by_hand(loaded, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training-side path: data.to_input + network + decoder."""
    x = torch.from_numpy(np.stack([to_input(c, loaded.cfg.grayscale) for c in crops]))
    with torch.inference_mode():
        pts, conf = loaded.decoder(*loaded.model(x))
    return pts.numpy(), conf.numpy()


# ------------------------------------------------------------------ export file

def test_export_writes_checked_model_with_metadata(models):
    ck, path = models["gray"]
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    assert [(o.domain, o.version) for o in m.opset_import] == [("", 17)]  # no stray domains for other runtimes
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["format"] == "pipnet106-onnx" and meta["version"] == "1"
    assert meta["layout"] == "lapa106" and meta["num_points"] == "106"
    assert meta["input_size"] == str(SIZE) and meta["input_format"] == "uint8_nhwc_bgr"
    assert meta["grayscale"] == "true" and float(meta["crop_enlarge"]) == 1.25
    assert (meta["num_nb"], meta["backbone"], meta["width"], meta["net_stride"]) == ("10", "mobilenet_v2", "320", "16")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    assert inp.name == "image" and inp.type == "tensor(uint8)" and inp.shape[1:] == [SIZE, SIZE, 3]
    assert isinstance(inp.shape[0], str)  # dynamic batch
    assert [(o.name, o.shape[1:]) for o in sess.get_outputs()] == [("points", [106, 2]), ("conf", [106])]
    assert not list(path.parent.glob(".*.tmp"))  # atomic write left no temp file


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("kind", ["random", "faces"])
def test_onnxruntime_matches_pytorch(models, name, kind):
    ck, path = models[name]
    torch_be, onnx_be = TorchBackend.from_checkpoint(ck), OnnxBackend(path)
    crops = _random_crops(5, seed=3) if kind == "random" else _face_crops(5, seed=4)
    for batch in (crops[:1], crops):  # batch 1 and 5 through the one dynamic-batch graph
        tp, tc = torch_be(batch)
        op, oc = onnx_be(batch)
        assert op.shape == tp.shape == (len(batch), 106, 2) and oc.shape == tc.shape == (len(batch), 106)
        assert op.dtype == np.float32 and oc.dtype == np.float32
        _same_points(op, tp, _decided(ck, batch))
        assert np.abs(oc - tc).max() < TOL  # the best score, whichever of two tied cells holds it
    # the outputs depend on the crop (otherwise parity would prove nothing)
    assert np.abs(tp[0] - tp[1]).max() > 0.01 and tc.std() > 0.01
    # a single (S, S, 3) crop is a batch of one, and gets exactly the points it gets in a batch of five
    # (refinement re-crops from these points: a last-bit difference could flip a crop pixel's rounding)
    sp, sc = onnx_be(crops[2])
    np.testing.assert_array_equal(sp[0], op[2])
    np.testing.assert_array_equal(sc[0], oc[2])


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_inference_module_preprocessing_equals_training_path(models, name):
    """InferenceModule == data.to_input + model + decoder, so training and inference cannot drift."""
    ck, _ = models[name]
    loaded = load_model(ck)
    module = InferenceModule.from_loaded(loaded)
    crops = np.concatenate([_random_crops(2, seed=7), _face_crops(2, seed=8)])
    x = torch.from_numpy(crops)
    with torch.inference_mode():
        pre = module.preprocess(x).numpy()
        mp, mc = (t.numpy() for t in module(x))
    ref = np.stack([to_input(c, loaded.cfg.grayscale) for c in crops])
    # one grey level is 1/255/0.225 = 0.017 here: 1e-5 means the same pixels, bit for bit up to float rounding
    assert pre.shape == ref.shape and np.abs(pre - ref).max() < 1e-5
    hp, hc = _by_hand(loaded, crops)
    # the graph normalizes with a 1x1 conv and evaluates the offset heads at the best cells only:
    # the same function, float rounding in another order (a wrong channel or cell would be >1e-2)
    _same_points(mp, hp, _decided(ck, crops), tol=5e-5)
    assert np.abs(mc - hc).max() < 5e-5


def test_grayscale_graph_reproduces_cv2_on_every_channel_value():
    """The in-graph luma equals cv2.COLOR_BGR2GRAY for all 256 values of each channel and random mixes."""
    cv2 = pytest.importorskip("cv2")
    v = np.arange(256, dtype=np.uint8)
    rng = np.random.default_rng(0)
    px = np.concatenate([np.stack([v, 0 * v, 0 * v], 1), np.stack([0 * v, v, 0 * v], 1),
                         np.stack([0 * v, 0 * v, v], 1), np.stack([v, v, v], 1),
                         rng.integers(0, 256, (64 * 64 - 4 * 256, 3), dtype=np.uint8)]).reshape(1, 64, 64, 3)
    dummy = nn.Module()
    mod = InferenceModule(dummy, type("D", (), {"num_points": 1})(), 64, grayscale=True)
    with torch.inference_mode():
        pre = mod.preprocess(torch.from_numpy(px)).numpy()[0]
    gray = cv2.cvtColor(px[0], cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
    rebuilt = pre[0] * 0.229 + 0.485  # undo the R-channel normalization
    assert np.abs(rebuilt - gray).max() < 1e-5


def test_float_nchw_input_format(models, tmp_path):
    ck, _ = models["gray"]
    path = export_onnx(ck, tmp_path / "f.onnx", input_format="float_nchw_rgb")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    assert inp.type == "tensor(float)" and inp.shape[1:] == [3, SIZE, SIZE]
    crops = _face_crops(3, seed=11, gray=True)  # already gray: the float luma is then exact too
    rgb = np.ascontiguousarray(crops[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
    fp, fc = sess.run(None, {"image": rgb})
    tp, tc = TorchBackend.from_checkpoint(ck)(crops)
    decided = _decided(ck, crops)
    _same_points(fp, tp, decided)
    assert np.abs(fc - tc).max() < TOL
    # OnnxBackend converts uint8 BGR crops to the file's format itself
    be = OnnxBackend(path)
    assert be.input_format == "float_nchw_rgb"
    bp, _ = be(crops)
    _same_points(bp, tp, decided)


def test_export_cli_fp16_weights_halve_the_file(models, tmp_path, capsys):
    ck, full = models["color"]
    parser = argparse.ArgumentParser()
    from pipnet106.cli import export as export_cmd

    export_cmd.register(parser.add_subparsers())
    out = tmp_path / "cli" / "h.onnx"
    args = parser.parse_args(["export", "--weights", str(ck), "--out", str(out), "--opset", "17", "--fp16-weights"])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "MB" in text and "max abs diff" in text and "fp16" in text
    assert out.stat().st_size < 0.6 * full.stat().st_size
    be = OnnxBackend(out)
    assert be.meta["weights"] == "float16"
    pts, conf = be(_face_crops(2, seed=5))
    assert pts.shape == (2, 106, 2) and np.isfinite(pts).all() and np.isfinite(conf).all()


def test_export_rejects_bad_inputs(models, tmp_path):
    ck, _ = models["color"]
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(UserError, match="bad.pt"):
        export_onnx(bad, tmp_path / "x.onnx")
    with pytest.raises(UserError, match="input format"):
        export_onnx(ck, tmp_path / "x.onnx", input_format="nhwc_rgb")
    assert not (tmp_path / "x.onnx").exists()


# ------------------------------------------------------------------ backends

def _identity_onnx(path: Path) -> Path:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(m.SerializeToString())
    return path


def test_onnx_backend_rejects_files_that_are_not_exports(models, tmp_path):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    text = tmp_path / "notes.onnx"
    text.write_text("this is a text file\nwith two lines\n")
    identity = _identity_onnx(tmp_path / "identity.onnx")
    foreign = tmp_path / "foreign.onnx"
    m = onnx.load(str(models["color"][1]))
    for p in m.metadata_props:
        if p.key == "format":
            p.value = "someone-else"
    foreign.write_bytes(m.SerializeToString())
    for path, why in ((empty, "empty"), (text, "not a readable ONNX"), (identity, "not a pipnet106 ONNX export"),
                      (foreign, "someone-else"), (tmp_path / "missing.onnx", "not found")):
        with pytest.raises(UserError) as e:
            OnnxBackend(path)
        msg = str(e.value)
        assert str(path) in msg and why in msg and "\n" not in msg


def test_backends_check_layout_and_crops(models):
    ck, path = models["color"]
    with pytest.raises(UserError, match="ibug68"):
        OnnxBackend(path, layout="ibug68")
    with pytest.raises(UserError, match="ibug68"):
        TorchBackend.from_checkpoint(ck, layout="ibug68")
    be = OnnxBackend(path, threads=1, layout="lapa106")
    assert (be.layout.name, be.input_size, be.grayscale, be.enlarge, be.name) == ("lapa106", SIZE, False, 1.25,
                                                                                 "onnxruntime")
    with pytest.raises(UserError, match=r"uint8 BGR crops"):
        be(np.zeros((1, SIZE + 1, SIZE, 3), np.uint8))
    with pytest.raises(UserError, match=r"uint8 BGR crops"):
        be(np.zeros((1, SIZE, SIZE, 3), np.float32))
    pts, conf = be(np.zeros((0, SIZE, SIZE, 3), np.uint8))
    assert pts.shape == (0, 106, 2) and conf.shape == (0, 106)


def test_load_backend_picks_by_extension_and_content(models, tmp_path):
    ck, path = models["gray"]
    tb, ob = load_backend(ck), load_backend(path)
    assert isinstance(tb, TorchBackend) and isinstance(ob, OnnxBackend)
    assert (tb.layout, tb.input_size, tb.grayscale, tb.enlarge) == (ob.layout, ob.input_size, True, ob.enlarge)
    odd = tmp_path / "model.bin"
    odd.write_bytes(path.read_bytes())
    assert isinstance(load_backend(odd), OnnxBackend)
    odd_ck = tmp_path / "weights.bin"
    odd_ck.write_bytes(ck.read_bytes())
    assert isinstance(load_backend(odd_ck), TorchBackend)
    with pytest.raises(UserError, match="not found"):
        load_backend(tmp_path / "nope.onnx")


_NO_TORCH = textwrap.dedent("""
    import sys, importlib.abc
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in ('torch', 'torchvision'):
                raise ImportError('torch is blocked in this test')
    sys.meta_path.insert(0, Block())
    import numpy as np
    from pipnet106.infer.backends import OnnxBackend, load_backend
    model, crops, expected, decided = sys.argv[1:5]
    be = load_backend(model)
    assert isinstance(be, OnnxBackend), type(be)
    pts, conf = be(np.load(crops))
    ref = np.load(expected)
    assert pts.shape == ref.shape, pts.shape
    decided = np.load(decided)  # points whose cells no float rounding can flip
    assert decided.mean() > 0.8 and np.abs(pts - ref)[decided].max() < 1e-4, np.abs(pts - ref).max()
    assert 'torch' not in sys.modules
    print('OK', be.layout.name, pts.shape)
""")


def test_onnx_backend_runs_without_torch(models, tmp_path):
    ck, path = models["color"]
    crops = _face_crops(2, seed=9)
    expected, _ = TorchBackend.from_checkpoint(ck)(crops)
    np.save(tmp_path / "crops.npy", crops)
    np.save(tmp_path / "expected.npy", expected)
    np.save(tmp_path / "decided.npy", _decided(ck, crops))
    env_path = str(ROOT / "src")
    r = subprocess.run([sys.executable, "-c", _NO_TORCH, str(path), str(tmp_path / "crops.npy"),
                        str(tmp_path / "expected.npy"), str(tmp_path / "decided.npy")],
                       capture_output=True, text=True, timeout=300,  # a safety net against a hang only
                       env={**__import__("os").environ, "PYTHONPATH": env_path})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("OK lapa106 (2, 106, 2)")


def test_training_data_terms_travel_into_metadata():
    """The config's data_terms (what the training photos allow) is one ONNX metadata field; absent when empty."""
    from types import SimpleNamespace

    from pipnet106.layout import get_layout

    loaded = SimpleNamespace(cfg=Config(data_terms="non-commercial research"), layout=get_layout("lapa106"),
                             model=SimpleNamespace(backbone=SimpleNamespace(out_channels=320)))
    assert export_mod.metadata(loaded, "uint8_nhwc_bgr")["training_data_terms"] == "non-commercial research"
    loaded.cfg = Config()
    assert "training_data_terms" not in export_mod.metadata(loaded, "uint8_nhwc_bgr")


# ------------------------------------------------------------------ parity check: ties vs real mismatches
#
# Which of two (nearly) equal cells a runtime picks depends on float rounding, which differs between
# CPUs. So the tie rule (`export.check_parity`) is tested on score maps built by hand, where which
# cell each "runtime" picks is fixed by construction, and the export end to end on maps that are
# exactly flat, where no rounding can make one cell win.

G = 4  # grid of the hand-built maps
TIED = (0, 40, 75)  # landmarks whose two best cells tie (torch's winner leads by 5e-7, below the noise)


class _FixedMaps(nn.Module):
    """A "network" that returns given maps whatever the input (check_parity runs it on `x`)."""

    def __init__(self, maps: tuple[torch.Tensor, ...]) -> None:
        super().__init__()
        self.maps = maps

    def forward(self, x: torch.Tensor, offsets: bool = True) -> tuple[torch.Tensor, ...]:
        return self.maps


def _parity_case(seed: int = 0):
    """(module, x, torch maps, onnxruntime-like maps): clear winners by 0.4 everywhere except the
    `TIED` landmarks; the second set differs by at most 1e-6 except that in it the tied landmarks'
    *other* cell wins, as a runtime whose rounding falls the other way would have it."""
    rng = np.random.default_rng(seed)
    mf = synth.template()
    dec = Decoder.from_neighbors(neighbors(mf, 10))
    n, k, b = dec.num_points, dec.num_nb, 2
    score = rng.uniform(0.0, 0.5, (b, n, G * G)).astype(np.float32)
    first, second = 5, 10                           # flat cell indices: (1, 1) and (2, 2)
    score[:, :, first] = 0.9
    score[:, TIED, second] = np.float32(0.9) - np.float32(5e-7)
    offs = [rng.uniform(-0.5, 1.5, (b, c, G * G)).astype(np.float32) for c in (n, n, n * k, n * k)]
    for own in offs[:2]:
        own[:, TIED] = 0.5  # a flipped tie moves the landmark's own prediction by exactly one cell
    maps = tuple(torch.from_numpy(m.reshape(b, -1, G, G)) for m in (score, *offs))
    noisy = [m.numpy() + rng.uniform(-1e-6, 1e-6, m.shape).astype(np.float32) for m in maps]
    noisy[0][:, TIED, 1, 1] = np.float32(0.9) - np.float32(5e-7)
    noisy[0][:, TIED, 2, 2] = 0.9
    module = InferenceModule(_FixedMaps(maps), dec, SIZE).eval()
    return module, torch.zeros((b, SIZE, SIZE, 3), dtype=torch.uint8), maps, noisy


def _decode(dec, maps) -> tuple[np.ndarray, np.ndarray]:
    with torch.inference_mode():
        return tuple(t.numpy() for t in dec(*(torch.as_tensor(m) for m in maps)))


def _affected(dec, tied: tuple[int, ...]) -> set[int]:
    """Points that a tied landmark decides: its own, and those it votes for (the reverse index)."""
    idx, mask = dec.idx.numpy(), dec.mask.numpy() > 0
    return set(tied) | {j for j in range(dec.num_points) if any(idx[j, r] in tied and mask[j, r]
                                                                for r in range(idx.shape[1]))}


def test_parity_rule_accepts_cells_that_flip_only_within_a_tie():
    module, x, maps, noisy = _parity_case()
    dec = module.decoder
    tp, tc = _decode(dec, maps)
    op, oc = _decode(dec, noisy)        # a graph that decodes its own maps correctly
    flipped = np.abs(op - tp).max(axis=2)
    # by construction the tied landmarks land elsewhere: their own prediction moves by a cell (1/G of
    # the crop), averaged with the predictions of it made by the others (the reverse index)
    assert (flipped[:, list(TIED)] > 100 * TOL).all()
    # ... and a comparison of points alone would refuse the model
    assert np.abs(oc - tc).max() < TOL
    par = export_mod.check_parity(module, x, [op, oc, *noisy])
    assert par.maps_diff <= 1.1e-6 and par.points_diff < TOL and par.conf_diff < TOL
    affected = _affected(dec, TIED)
    assert len(affected) > len(TIED)   # voters count: a neighbour's prediction of a point moves with the cell
    assert par.points_checked == 2 * (dec.num_points - len(affected))
    # every point outside the ties was compared end to end, and agrees
    steady = [j for j in range(dec.num_points) if j not in affected]
    assert np.abs(op - tp)[:, steady].max() < TOL


def test_parity_rule_refuses_real_mismatches():
    module, x, maps, noisy = _parity_case()
    dec = module.decoder
    op, oc = _decode(dec, noisy)
    steady = min(set(range(dec.num_points)) - _affected(dec, TIED))
    # a point outside the ties moved by 2% of the crop
    moved = op.copy()
    moved[1, steady, 0] += 0.02
    assert export_mod.check_parity(module, x, [moved, oc, *noisy]).points_diff > 0.019
    # the graph's decoding does not follow its own maps: the tied landmarks keep torch's cells
    tp, _ = _decode(dec, maps)
    assert export_mod.check_parity(module, x, [tp, oc, *noisy]).points_diff > 100 * TOL
    # a clear winner (by 0.4) flips: the maps themselves disagree
    wrong = [m.copy() for m in noisy]
    wrong[0][0, steady, 3, 3] = 0.95
    wp, wc = _decode(dec, wrong)
    par = export_mod.check_parity(module, x, [wp, wc, *wrong])
    assert par.maps_diff > 0.4
    # a confidence off by 0.01
    bad_conf = oc.copy()
    bad_conf[0, steady] += 0.01
    assert export_mod.check_parity(module, x, [op, bad_conf, *noisy]).conf_diff > 0.009


def _flat_score_checkpoint(root: Path) -> Path:
    """A network whose score maps are exactly flat (score head weights 0): every cell of every map
    ties exactly, in any runtime on any CPU, like the near-flat maps of a network trained for a
    few steps at their extreme."""
    cfg = Config.from_dict(CONFIGS["color"])
    torch.manual_seed(1)
    model = build_model(cfg, warn_scratch=False)
    lifelike_init_(model, cfg.input_size)
    with torch.no_grad():
        model.cls_layer.weight.zero_()
        model.cls_layer.bias.fill_(0.5)
    mf = synth.template()
    ck = root / "flat.pt"
    atomic_torch_save(ck, make_checkpoint(model, cfg, mf, neighbors(mf, cfg.num_nb)))
    return ck


def test_export_accepts_exact_ties_between_cells(tmp_path):
    ck = _flat_score_checkpoint(tmp_path)
    rep = export_mod.export_checkpoint(ck, tmp_path / "tie.onnx")
    assert rep.path.is_file()
    assert rep.maps_diff < TOL and rep.points_diff < TOL and rep.conf_diff < TOL
    assert rep.points_checked == 0  # every point is a tie: none is compared with PyTorch end to end
    crops = _random_crops(2, seed=9)
    _, tc = TorchBackend.from_checkpoint(ck)(crops)
    _, oc = OnnxBackend(rep.path)(crops)
    np.testing.assert_array_equal(oc, np.full_like(oc, 0.5))  # the best score is the flat value, whichever cell
    np.testing.assert_array_equal(tc, oc)


def test_export_refuses_a_graph_that_computes_something_else(models, tmp_path, monkeypatch):
    ck, _ = models["color"]
    real = export_mod._to_onnx_bytes

    def other_graph(module, opset):
        wrong = copy.deepcopy(module)
        with torch.no_grad():
            wrong.model.x_layer.bias.add_(0.01)  # offsets move every point by 0.01 cell
        return real(wrong, opset)

    monkeypatch.setattr(export_mod, "_to_onnx_bytes", other_graph)
    out = tmp_path / "wrong.onnx"
    with pytest.raises(UserError, match="onnxruntime disagrees with PyTorch"):
        export_mod.export_checkpoint(ck, out)
    assert not out.exists()


def test_export_refuses_corrupted_onnx_outputs(models, tmp_path, monkeypatch):
    ck, _ = models["gray"]
    real = export_mod._run_ort

    def corrupted(data, x):
        outs = real(data, x)
        outs[0][0, 5] += 0.02  # one point of one image moves by 2% of the crop
        return outs

    monkeypatch.setattr(export_mod, "_run_ort", corrupted)
    out = tmp_path / "corrupt.onnx"
    with pytest.raises(UserError, match=r"onnxruntime disagrees with PyTorch \(max point diff 2\.0"):
        export_mod.export_checkpoint(ck, out)
    assert not out.exists()
