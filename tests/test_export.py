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

from pipnet106 import export as export_mod, synth  # noqa: E402
from pipnet106.backends import OnnxBackend, TorchBackend, load_backend  # noqa: E402
from pipnet106.checkpoint import load_model, make_checkpoint  # noqa: E402
from pipnet106.config import Config  # noqa: E402
from pipnet106.crop import crop_from_points  # noqa: E402
from pipnet106.data import to_input  # noqa: E402
from pipnet106.errors import UserError  # noqa: E402
from pipnet106.export import InferenceModule, export_onnx  # noqa: E402
from pipnet106.fileio import atomic_torch_save  # noqa: E402
from pipnet106.models.pipnet import lifelike_init_  # noqa: E402
from pipnet106.meanface import neighbors  # noqa: E402
from pipnet106.models import build_model  # noqa: E402

SIZE = 64
TOL = 1e-4  # points: fraction of the crop side; conf: score units
ROOT = Path(__file__).resolve().parents[1]

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
        assert np.abs(op - tp).max() < TOL and np.abs(oc - tc).max() < TOL
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
    assert np.abs(mp - hp).max() < 5e-5 and np.abs(mc - hc).max() < 5e-5


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
    assert np.abs(fp - tp).max() < TOL and np.abs(fc - tc).max() < TOL
    # OnnxBackend converts uint8 BGR crops to the file's format itself
    be = OnnxBackend(path)
    assert be.input_format == "float_nchw_rgb"
    bp, _ = be(crops)
    assert np.abs(bp - tp).max() < TOL


def test_export_cli_fp16_weights_halve_the_file(models, tmp_path, capsys):
    ck, full = models["color"]
    parser = argparse.ArgumentParser()
    export_mod.register(parser.add_subparsers())
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
    from pipnet106.backends import OnnxBackend, load_backend
    model, crops, expected = sys.argv[1:4]
    be = load_backend(model)
    assert isinstance(be, OnnxBackend), type(be)
    pts, conf = be(np.load(crops))
    ref = np.load(expected)
    assert pts.shape == ref.shape, pts.shape
    assert np.abs(pts - ref).max() < 1e-4, np.abs(pts - ref).max()
    assert 'torch' not in sys.modules
    print('OK', be.layout.name, pts.shape)
""")


def test_onnx_backend_runs_without_torch(models, tmp_path):
    ck, path = models["color"]
    crops = _face_crops(2, seed=9)
    expected, _ = TorchBackend.from_checkpoint(ck)(crops)
    np.save(tmp_path / "crops.npy", crops)
    np.save(tmp_path / "expected.npy", expected)
    env_path = str(ROOT / "src")
    r = subprocess.run([sys.executable, "-c", _NO_TORCH, str(path), str(tmp_path / "crops.npy"),
                        str(tmp_path / "expected.npy")], capture_output=True, text=True, timeout=120,
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

def _near_tie_checkpoint(root: Path) -> Path:
    """A network whose score maps are almost flat, like one trained for a few steps: the best cell
    wins by float rounding, so onnxruntime and PyTorch may pick different (equally good) cells."""
    cfg = Config.from_dict(CONFIGS["color"])
    torch.manual_seed(1)
    model = build_model(cfg, warn_scratch=False)
    lifelike_init_(model, cfg.input_size)
    with torch.no_grad():
        model.cls_layer.weight.mul_(2e-7)
        model.cls_layer.bias.fill_(0.5)
    mf = synth.template()
    ck = root / "near_tie.pt"
    atomic_torch_save(ck, make_checkpoint(model, cfg, mf, neighbors(mf, cfg.num_nb)))
    return ck


def test_export_accepts_near_ties_between_cells(tmp_path):
    ck = _near_tie_checkpoint(tmp_path)
    rep = export_mod.export_checkpoint(ck, tmp_path / "tie.onnx")
    assert rep.path.is_file()
    assert rep.maps_diff < TOL and rep.conf_diff < TOL
    assert rep.points_checked < 106 * 3  # some points were near-ties and left out of the point comparison
    # cells do flip between the runtimes: comparing the points alone would refuse this model
    crops = _random_crops(2, seed=9)
    tp, tc = TorchBackend.from_checkpoint(ck)(crops)
    op, oc = OnnxBackend(rep.path)(crops)
    assert np.abs(op - tp).max() > 1e-2 and np.abs(oc - tc).max() < TOL


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
