"""int8 export: only the network is quantized, the file runs like any export, points stay close."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime.quantization")
pytest.importorskip("torch")  # the float file to quantize is exported from the starter checkpoint

from pipnet106.deploy import quantize  # noqa: E402
from pipnet106.synth import faces as synth
from pipnet106.infer.backends import OnnxBackend  # noqa: E402
from pipnet106.errors import UserError  # noqa: E402
from pipnet106.deploy.export import export_checkpoint  # noqa: E402
from pipnet106.data.prepare import prepare  # noqa: E402

from pipnet106.cli.export import run_export_int8  # noqa: E402
from pipnet106.constants import STARTER_PT as STARTER


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A prepared folder of synthetic faces, the starter's float export and its int8 export."""
    tmp = tmp_path_factory.mktemp("q")
    synth.generate_dataset(tmp / "photos", 24, seed=3)
    prepare([tmp / "photos"], tmp / "data", crop="face", size=128, workers=1, test_frac=0.25, progress=False,
            verbose=False)
    fp32 = export_checkpoint(STARTER, tmp / "fp32.onnx").path
    crops = quantize.calibration_crops(tmp / "data", 128, 106, count=16)
    rep = quantize.quantize_onnx(fp32, tmp / "int8.onnx", crops, quantize.QuantSettings(pre_process=False))
    return tmp, fp32, Path(rep["path"]), rep


def test_only_network_is_quantized(files):
    _, fp32, int8, rep = files
    m = onnx.load(str(int8))
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["weights"] == "int8" and meta["format"] == "pipnet106-onnx" and meta["input_size"] == "128"
    dq_out = {n.output[0] for n in m.graph.node if n.op_type == "DequantizeLinear"}
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    quantized = [n.name for n in convs if n.input[1] in dq_out]  # int8 weights
    heads = [n for n in convs if any(f"/model/{h}/" in n.name for h in quantize.HEAD_LAYERS)]
    assert len(heads) == 1 and all(n.input[1] not in dq_out for n in heads)  # the score head keeps float weights
    # the offset heads, evaluated at the best cells only (one MatMul), stay float too
    matmuls = [n for n in m.graph.node if n.op_type == "MatMul"]
    assert len(matmuls) == 1 and matmuls[0].input[1] not in dq_out and not matmuls[0].name.startswith("/model/")
    # every backbone conv reads int8 activations; the float ones: the score head and the input normalization
    assert len(quantized) == len(convs) - 2 > 40
    assert all(n.startswith("/model/") for n in quantized)
    # input stays uint8 and the decoding (ArgMax) is untouched
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert sum(n.op_type == "ArgMax" for n in m.graph.node) == 1
    float_nodes = {n.name for n in onnx.load(str(fp32)).graph.node if not n.name.startswith("/model/")}
    assert float_nodes <= {n.name for n in m.graph.node}  # preprocessing and decoding kept as they were


def test_int8_points_close_to_float(files):
    tmp, fp32, int8, rep = files
    crops = quantize.calibration_crops(tmp / "data", 128, 106, count=50, list_name="test.txt")
    a, b = OnnxBackend(fp32, threads=1), OnnxBackend(int8, threads=1)
    pa, ca = a(crops)
    pb, cb = b(crops)
    shift = np.linalg.norm(pa - pb, axis=-1)
    assert shift.mean() < 0.01          # under 1.3 px on a 128 crop on average
    assert np.median(shift) < 0.006
    assert np.abs(ca - cb).mean() < 0.05
    assert rep["mean_point_shift"] < 0.01


def test_eval_reads_int8(files):
    from pipnet106.train.evaluate import evaluate

    tmp, fp32, int8, _ = files
    r32 = evaluate(fp32, tmp / "data")
    r8 = evaluate(int8, tmp / "data")
    assert r32["num_samples"] == r8["num_samples"] > 0
    assert abs(r32["nme"] - r8["nme"]) < 0.005  # 0.5 NME points


def test_settings_and_cli_errors(files, capsys):
    tmp, _, _, _ = files
    s = quantize.parse_settings(["format=qoperator", "activations=s8", "per_channel=false", "ops=Conv"])
    assert (s.format, s.activations, s.per_channel, s.ops) == ("qoperator", "s8", False, ("Conv",))
    for bad in (["nope=1"], ["format=fp4"], ["per_channel=maybe"], ["calibrate"]):
        with pytest.raises(UserError):
            quantize.parse_settings(bad)
    args = argparse.Namespace(int8=True, calib=None, quant=[], fp16_weights=False, out=str(tmp / "x.onnx"),
                              weights=str(STARTER), calib_count=8, input_format="uint8_nhwc_bgr")
    with pytest.raises(UserError, match="--calib"):
        run_export_int8(args)
    args.calib, args.fp16_weights = str(tmp / "data"), True
    with pytest.raises(UserError, match="fp16"):
        run_export_int8(args)
    with pytest.raises(UserError, match="calibration list"):
        quantize.calibration_crops(tmp / "photos", 128, 106)
    with pytest.raises(UserError, match="float32"):
        fp16 = export_checkpoint(STARTER, tmp / "fp16.onnx", fp16_weights=True).path
        quantize.quantize_onnx(fp16, tmp / "bad.onnx", np.zeros((2, 128, 128, 3), np.uint8))
