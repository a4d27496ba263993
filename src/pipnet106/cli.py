"""Command line: ``pipnet106 <command>``.

Each command module exposes ``register(subparsers)`` which adds its parser and
sets ``func``; this file only wires them together and turns `UserError` into a
one-line message with exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import UserError

# (module, help) in the order shown by --help
COMMANDS = [
    "prepare", "show", "info", "train", "evaluate", "export", "predict", "bench", "autolabel",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipnet106",
        description="106-point facial landmarks with PIPNet. Typical flow: prepare -> train -> eval -> export.",
    )
    parser.add_argument("--version", action="version", version=f"pipnet106 {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f".{name}", __package__)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith("pipnet106"):
                continue  # command not built yet
            # a missing optional dependency: keep the command visible with a clear message
            p = sub.add_parser(name, help=f"(unavailable: needs {e.name})")
            p.set_defaults(func=_missing(name, e.name))
            continue
        mod.register(sub)
    return parser


def _missing(cmd: str, dep: str | None):
    def run(args):
        raise UserError(f"'{cmd}' needs the Python package {dep!r}; install it (e.g. pip install 'pipnet106[all]')")
    return run


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"pipnet106: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.formatwarning = _one_line_warning  # no source lines from deep inside the package
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except UserError as e:
        print(f"pipnet106: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pipnet106: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    raise SystemExit(main())
