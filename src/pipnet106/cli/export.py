"""``pipnet106 export``: a checkpoint -> one verified ONNX file (float, float16 weights or int8),
a phone runtime's file (`--format ncnn|tflite|coreml`, checked by the runtime's own interpreter),
or a small inference-only checkpoint (`--out model.pt`)."""
from __future__ import annotations

import argparse

from ..config import terms_line
from ..constants import INPUT_FORMATS
from ..deploy.export import DEFAULT_OPSET, EXPORT_FORMATS, export_checkpoint
from ..errors import UserError
from ..models.checkpoint import checkpoint_terms


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a checkpoint to ONNX (preprocessing and decoding included)",
                              description=__doc__.splitlines()[0].replace('``', ''))
    p.add_argument("--weights", required=True, help="checkpoint (.pt) written by `pipnet106 train`")
    p.add_argument("--out", required=True,
                   help="output .onnx file, or a .pt file for a small inference-only checkpoint (no optimizer state)")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="onnx",
                   help="onnx (default, onnxruntime); ncnn (NAME.param + .bin + .json), tflite (LiteRT) or coreml "
                        "(.mlpackage) for phone apps, made by each runtime's own converter (pip install "
                        "'pipnet106[mobile]'; docs/deploy-mobile.md)")
    p.add_argument("--input-format", choices=INPUT_FORMATS, default=None,
                   help="uint8_nhwc_bgr: uint8 (B,S,S,3) BGR as OpenCV gives (ONNX default); "
                        "float_nchw_rgb: float32 (B,3,S,S) RGB in [0,1]. Phone formats take what their runtime "
                        "takes (ncnn and Core ML float RGB, LiteRT uint8 BGR)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    p.add_argument("--fp16-weights", action="store_true",
                   help="store conv weights as float16 (half the file; compute stays float32; "
                        "Core ML: float16 compute)")
    p.add_argument("--no-optimize", action="store_true", help="skip onnxruntime's offline basic graph optimization")
    p.add_argument("--parts", nargs="+", default=None, metavar="PART.pt",
                   help="checkpoints of part models (eye, mouth: the local stage) to export with the face model, "
                        "as <out>.<part>.onnx beside it; the face file names them, and loading it loads them")
    p.add_argument("--int8", action="store_true",
                   help="statically quantize the network to int8 (preprocessing and decoding stay float); needs --calib; "
                        "formats onnx and tflite")
    p.add_argument("--calib", default=None, help="prepared folder (`pipnet106 prepare`) whose crops calibrate --int8")
    p.add_argument("--calib-count", type=int, default=300, help="calibration crops (default 300)")
    p.add_argument("--quant", action="append", default=[], metavar="KEY=VALUE",
                   help="int8 setting, repeatable: format=qdq|qoperator, activations=u8|s8, weights=s8|u8, "
                        "per_channel, reduce_range, heads, pre_process (true/false), calibrate=minmax|entropy|percentile, "
                        "ops=Conv,Clip,Add")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.format != "onnx":
        return run_export_mobile(args)
    args.input_format = args.input_format or "uint8_nhwc_bgr"
    if args.int8 or args.calib:
        return run_export_int8(args)
    if str(args.out).lower().endswith((".pt", ".pth")):
        from ..models.checkpoint import save_release

        path = save_release(args.weights, args.out, fp16=args.fp16_weights)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, inference-only checkpoint"
              f"{', float16 weights' if args.fp16_weights else ''})")
        print(terms_line(checkpoint_terms(path)) + " (kept in the file)")
        return 0
    rep = export_checkpoint(args.weights, args.out, args.input_format, args.opset, args.fp16_weights,
                            optimize=not args.no_optimize, parts=args.parts)
    line = (f"wrote {rep.path} ({rep.size_bytes / 1e6:.2f} MB, opset {rep.opset}, input {rep.input_format}); "
            f"parity vs PyTorch: max abs diff maps {rep.maps_diff:.2e}, points {rep.points_diff:.2e} (of the crop side), "
            f"conf {rep.conf_diff:.2e}")
    if rep.fp16_points_diff is not None:
        line += f"; fp16 weights move points by up to {rep.fp16_points_diff:.2e}"
    print(line)
    print(terms_line(checkpoint_terms(args.weights)) + " (ONNX metadata training_data_terms)")
    return 0


def run_export_int8(args: argparse.Namespace) -> int:
    """`pipnet106 export --int8 --calib DATA`."""
    from ..deploy.quantize import export_int8, parse_settings

    if not args.int8:
        raise UserError("--calib is only used with --int8")
    if not args.calib:
        raise UserError("--int8 needs --calib DATA: a prepared folder (`pipnet106 prepare`) of a few hundred crops")
    if args.fp16_weights:
        raise UserError("--int8 and --fp16-weights exclude each other (int8 weights are already a quarter)")
    if not str(args.out).lower().endswith(".onnx"):
        raise UserError(f"{args.out}: --int8 writes an ONNX file (.onnx)")
    settings = parse_settings(args.quant)
    rep = export_int8(args.weights, args.out, args.calib, args.calib_count, settings, args.input_format)
    print(f"wrote {rep['path']} ({rep['size_bytes'] / 1e6:.2f} MB, int8: {rep['settings']}, "
          f"{rep['nodes_quantized']} nodes, calibrated on {rep['calibration_crops']} crops); "
          f"points move by {rep['mean_point_shift']:.2e} on average, {rep['max_point_shift']:.2e} at most "
          "(of the crop side) against the float export")
    print(terms_line(rep["training_data_terms"]) + " (ONNX metadata training_data_terms, kept from the float export)")
    return 0


def run_export_mobile(args: argparse.Namespace) -> int:
    """`pipnet106 export --format ncnn|tflite|coreml`."""
    from ..deploy.mobile import DECODING_WORDS, PLAN, export_mobile

    runtime = args.format
    want = PLAN[runtime][0]
    if args.input_format not in (None, want):
        raise UserError(f"--format {runtime} takes {want} input; --input-format {args.input_format} is for ONNX")
    if args.parts:
        raise UserError("--parts: part models export to ONNX only (--format onnx)")
    if args.int8 and args.fp16_weights:
        raise UserError("--int8 and --fp16-weights exclude each other")
    if args.calib and not args.int8:
        raise UserError("--calib is only used with --int8")
    if args.quant:
        raise UserError("--quant sets onnxruntime's quantizer; --format tflite --int8 quantizes the convolutions")
    precision = "int8" if args.int8 else "fp16" if args.fp16_weights else "fp32"
    rep = export_mobile(args.weights, args.out, runtime, precision, args.calib, args.calib_count)
    names = ", ".join(str(f) for f in rep.files)
    line = (f"wrote {names} ({rep.size_bytes / 1e6:.2f} MB, {runtime}, {precision}, input {rep.input_format}, "
            f"outputs {rep.outputs}, decoding {DECODING_WORDS[rep.decoding]})")
    if rep.points_diff is not None:
        line += (f"; checked with the runtime's interpreter against PyTorch: max abs diff points "
                 f"{rep.points_diff:.2e} (of the crop side, {rep.points_checked} points away from ties), "
                 f"conf{'/visibility' if 'visibility' in rep.outputs else ''} {rep.conf_diff:.2e}")
    print("; ".join([line, *rep.notes]))
    where = {"ncnn": f"in {rep.files[-1].name}", "tflite": "in the .tflite's pipnet106 metadata",
             "coreml": "in the model's metadata and licence"}[runtime]
    print(terms_line(rep.terms) + f" ({where})")
    return 0
