"""``pipnet106 info``: parameters, FLOPs and grid of a config, or what a model file carries."""
from __future__ import annotations

import argparse
import warnings

from ..config import load_config
from ..models import info
from ..models.info import config_lines, describe, describe_file, table


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="show model size, grid, parameters and FLOPs of a config",
                              description=__doc__.splitlines()[0])
    p.add_argument("--config", help="YAML config (defaults if omitted)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable), e.g. --set backbone=resnet18")
    p.add_argument("--weights", default=None,
                   help="describe a model file instead: checkpoint (.pt), ONNX export, or 'starter'")
    p.add_argument("--all", action="store_true",
                   help="table for the standard configurations (mobilenet_v2 320/640/1280, resnet18) at 128 and 256")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.weights:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            print("\n".join(describe_file(args.weights)))
        return 0
    cfg = load_config(args.config, args.overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if args.all:
            rows = []
            for _, backbone, width in info.STANDARD:
                for size in info.STANDARD_SIZES:
                    c = cfg.override([f"backbone={backbone}", f"width={width}", f"input_size={size}"])
                    rows.append(describe(c))
            print(f"layout {cfg.layout}, net_stride {cfg.net_stride}, num_nb {cfg.num_nb}; FLOPs = 2 x MACs")
            print(table(rows))
            return 0
        lines = config_lines(cfg)
    print("\n".join(lines))
    return 0
