"""``pipnet106 bench``: milliseconds per face of one or more models on this machine."""
from __future__ import annotations

from ..infer.bench import bench, format_rows


def register(sub) -> None:
    p = sub.add_parser("bench", help="milliseconds per face of a model (network, whole pipeline, detector)",
                       description=__doc__.splitlines()[0])
    p.add_argument("--weights", nargs="+", default=None,
                   help=".onnx or .pt files, raced side by side (e.g. model.onnx model_int8.onnx; default: the "
                        "shipped starter, and its int8 export when shipped)")
    p.add_argument("--parts", nargs="+", default=None, metavar="PART",
                   help="run every model with these part models (the local stage; `starter` = the shipped eye and "
                        "mouth models): a column gives ms/face with them, the others stay the face model's")
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    p.set_defaults(func=run)


def run(args) -> int:
    rows = bench(args.weights, args.batch, args.threads, args.repeats, parts=args.parts)
    print(format_rows(rows))
    if args.json:
        from ..fileio import atomic_write_json

        atomic_write_json(args.json, rows)
    return 0
