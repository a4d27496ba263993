"""``pipnet106 show``: draw labels coloured by region, with index numbers, to check the point order."""
from __future__ import annotations

import argparse

from ..data.show import SPLITS, show


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "show", help="draw labels (coloured by region, with index numbers) to check the point order",
        description="Draw landmarks on prepared samples (a prepare output folder) or on source samples "
                    "(images + .txt labels, LaPa folder or .jsonl) and write PNGs.")
    p.add_argument("path", metavar="DIR", help="prepared folder, or source folder / .jsonl")
    p.add_argument("--out", required=True, help="folder for the PNGs")
    p.add_argument("--split", choices=SPLITS, default="train", help="prepared folder: which list (default train)")
    p.add_argument("--num", type=int, default=20, help="how many samples (default 20)")
    p.add_argument("--numbers", action=argparse.BooleanOptionalAction, default=True,
                   help="write each point's index next to it (default; --no-numbers for dots only)")
    p.add_argument("--layout", default="lapa106", help="point layout when there is no manifest (default lapa106)")
    p.add_argument("--labels-dir", help="source labels in this folder instead of next to the images")
    p.add_argument("--display", type=int, default=800, help="upscale smaller images to this long side (default 800)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    show(args.path, args.out, split=args.split, num=args.num, numbers=args.numbers, layout=args.layout,
         labels_dir=args.labels_dir, display=args.display)
    return 0
