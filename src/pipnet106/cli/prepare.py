"""``pipnet106 prepare``: check labelled photos and build a training folder."""
from __future__ import annotations

import argparse

from ..crop import DEFAULT_ENLARGE
from ..data.formats import FORMATS
from ..data.prepare import CROP_MODES, prepare
from .args import float_in, int_at_least


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "prepare", help="check labelled photos and build a training folder",
        description="Check labelled photos (photo.jpg + photo.txt with 'x y' pixel lines, LaPa folders or JSONL), "
                    "skip bad ones with a reason, and write crops, train/test lists, a mean face and a manifest "
                    "that maps every crop back to source pixels. Sources are never modified.")
    p.add_argument("sources", nargs="+", metavar="SRC", help="folder of images + .txt labels, LaPa folder, or .jsonl")
    p.add_argument("--out", required=True, help="output folder (new, or use --overwrite)")
    p.add_argument("--size", type=int_at_least(8), default=256, help="crop side in pixels (default 256)")
    p.add_argument("--crop", choices=CROP_MODES, default="letterbox",
                   help="letterbox: whole photo, aspect kept, padded; face: square around the landmarks x enlarge")
    p.add_argument("--enlarge", type=float_in(0.0, low_open=True), default=DEFAULT_ENLARGE,
                   help="face crop: box enlargement (default 1.25)")
    p.add_argument("--test-frac", type=float, default=0.1, help="random test fraction (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random split (default 0)")
    p.add_argument("--train-list", help="file of train sample names (first field per line) instead of a random split")
    p.add_argument("--test-list", help="file of test sample names (first field per line) instead of a random split")
    p.add_argument("--labels-dir", help="labels in this folder (same relative stems) instead of next to the images")
    p.add_argument("--format", dest="fmt", choices=("auto",) + FORMATS, default="auto", help="source format")
    p.add_argument("--layout", default="lapa106", help="point layout (default lapa106)")
    p.add_argument("--labels-layout", metavar="LAYOUT",
                   help="the labels are in this layout and are converted to --layout: ibug68 (300-W 68 points, "
                        ".txt or .pts) -> lapa106 keeps the mouth, nose, eye corners and lids, the rest unlabelled")
    p.add_argument("--fill-from", metavar="DIR",
                   help="with --labels-layout: full labels of the same photos (same stems, e.g. autolabel's "
                        "labels/) for the points the converted labels lack")
    p.add_argument("--num-nb", type=int_at_least(0), default=10,
                   help="neighbours per landmark (checked against the layout)")
    p.add_argument("--workers", type=int_at_least(0), default=2,
                   help="worker processes (default 2; 0 or 1: all in this process)")
    p.add_argument("--min-conf", type=float_in(0.0, 1.0), default=0.0, metavar="X",
                   help="predictions (JSONL of predict): leave out faces whose mean point confidence is below X")
    p.add_argument("--reliable-only", action="store_true",
                   help="predictions (JSONL of predict): keep only faces marked reliable (pose, size, confidence)")
    p.add_argument("--no-recursive", dest="recursive", action="store_false", help="do not scan subfolders")
    p.add_argument("--overwrite", action="store_true", help="replace a prepared dataset in a non-empty --out")
    p.add_argument("--strict", action="store_true", help="any skipped sample is an error; nothing is written")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar or per-sample lines; only a one-line summary of the counts")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every sample went in, 1 when the dataset was written but some samples were skipped."""
    summary = prepare(args.sources, args.out, size=args.size, crop=args.crop, enlarge=args.enlarge, test_frac=args.test_frac,
            seed=args.seed, train_names=args.train_list, test_names=args.test_list, labels_dir=args.labels_dir,
            fmt=args.fmt, layout=args.layout, labels_layout=args.labels_layout, fill_from=args.fill_from, num_nb=args.num_nb, overwrite=args.overwrite, strict=args.strict,
            workers=args.workers, recursive=args.recursive, progress=not args.quiet, verbose=not args.quiet,
            min_conf=args.min_conf, reliable_only=args.reliable_only)
    if args.quiet:
        print(summary.line())
    return 1 if summary.skipped else 0
