"""Command line: ``pipnet106 <command>``.

Each command module exposes ``register(subparsers)`` which adds its parser and
sets ``func``; this file wires them together, turns `UserError` into a one-line
message with exit code 2, and holds the argument checks the commands share
(`int_at_least`, `float_in`, `device_name`, `require_device`), so a bad value is
refused by argparse in the command's own usage, naming the flag.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import re
import sys

from . import __version__
from .errors import UserError

# command -> (module, one-line help), in the order shown by --help. Only the module of the command
# being run is imported (torch alone takes seconds to import), so `--help` and `predict` with an
# ONNX model start fast. Command modules live in `commands/` (argument parsing, files, messages)
# over API modules that hold no CLI code; older commands still keep `register` in their module.
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("prepare", "check labelled photos and build a training folder"),
    "show": ("show", "draw labels (coloured by region, with index numbers) to check the point order"),
    "info": ("info", "show model size, grid, parameters and FLOPs of a config"),
    "train": ("train", "train a PIPNet model on a prepared dataset (resumable)"),
    "eval": ("evaluate", "evaluate a checkpoint on a prepared dataset (NME, AUC, FR, per region)"),
    "export": ("export", "export a checkpoint to ONNX (preprocessing and decoding included)"),
    "predict": ("commands.predict", "106 points for every face in an image, a folder or a video"),
    "retouch": ("commands.retouch", "slim face, bigger eyes, nose/lip/chin shaping, makeup, skin (image, folder, video)"),
    "bench": ("bench", "milliseconds per face of a model (network, whole pipeline, detector)"),
    "autolabel": ("autolabel", "label unlabelled photos with the MediaPipe teacher (106 points)"),
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """Full parser for the command named in `argv`; one-line entries for the others."""
    parser = argparse.ArgumentParser(
        prog="pipnet106",
        description="106-point facial landmarks with PIPNet. Typical flow: prepare -> train -> eval -> export.",
    )
    parser.add_argument("--version", action="version", version=f"pipnet106 {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.command_parsers = sub.choices  # name -> parser, for `_refuse_unknown` (not in the parsed args)
    chosen = next((a for a in (argv or []) if not a.startswith("-")), None)
    for name, (module, help_text) in COMMANDS.items():
        if name != chosen:
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        try:
            mod = importlib.import_module(f".{module}", __package__)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith("pipnet106"):
                raise
            # a missing optional dependency: keep the command visible with a clear message
            p = sub.add_parser(name, help=f"(unavailable: needs {e.name})")
            p.set_defaults(func=_missing(name, e.name), missing_dependency=e.name)
            continue
        mod.register(sub)
    return parser


def _missing(cmd: str, dep: str | None):
    def run(args):
        hint = ("pip install 'pipnet106[torch]', or a CPU-only torch first: see Install in the README"
                if dep in ("torch", "torchvision") else "pip install 'pipnet106[all]'")
        raise UserError(f"'{cmd}' needs the Python package {dep!r}, which is not installed ({hint})")
    return run


def _refuse_unknown(parser: argparse.ArgumentParser, args: argparse.Namespace, unknown: list[str]) -> None:
    """argparse's "unrecognized arguments" error (exit 2), but in the usage of the command being run
    and with the closest real flag of that command for each mistyped one (`--wieghts` -> `--weights`)."""
    command = parser.command_parsers.get(args.command) if args.command else None
    target = command or parser
    flags = [f for a in target._actions for f in a.option_strings]
    hints = []
    for arg in unknown:
        if arg.startswith("--") or re.fullmatch(r"-[A-Za-z]\S*", arg):
            close = difflib.get_close_matches(arg.split("=", 1)[0], flags, n=1, cutoff=0.6)
            hints += [f"did you mean {close[0]}?"] if close else []
    target.error(f"unrecognized arguments: {' '.join(unknown)}" + (f" ({'; '.join(hints)})" if hints else ""))


# ---------------------------------------------------------------- argument checks shared by the commands

def int_at_least(low: int):
    """argparse `type`: a whole number >= `low`; argparse names the flag in its message."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {low} or more, got {value}")
        return value
    return parse


def float_in(low: float, high: float | None = None, low_open: bool = False):
    """argparse `type`: a number >= `low` (> with `low_open`) and <= `high`; NaN is refused."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        above = value > low if low_open else value >= low
        if not (above and (high is None or value <= high)):
            if high is None:
                want = f"more than {low:g}" if low_open else f"{low:g} or more"
            else:
                want = f"in {'(' if low_open else '['}{low:g}, {high:g}]"
            raise argparse.ArgumentTypeError(f"must be {want}, got {text}")
        return value
    return parse


DEVICES = "cpu, cuda, cuda:N or mps"


def device_name(text: str) -> str:
    """argparse `type` for `--device`: the spelling only (no torch import: ONNX runs need none)."""
    if re.fullmatch(r"cpu|mps|cuda(:\d+)?", text):
        return text
    raise argparse.ArgumentTypeError(f"unknown device {text!r}; use {DEVICES}")


def require_device(name: str) -> None:
    """`UserError` unless PyTorch can use device `name` here (a GPU asked for on a machine without
    one used to end in a traceback from deep inside torch). Without torch installed there is
    nothing to check: loading a checkpoint then says torch is needed."""
    if name == "cpu":
        return
    try:
        import torch
    except ModuleNotFoundError:
        return
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {name}: PyTorch finds no CUDA GPU on this machine "
                            f"(torch {torch.__version__}); use --device cpu")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise UserError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s) "
                            f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    elif name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError(f"--device mps: PyTorch finds no Apple GPU (MPS) on this machine; use --device cpu")


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"pipnet106: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.formatwarning = _one_line_warning  # no source lines from deep inside the package
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "missing_dependency", None):
        _refuse_unknown(parser, args, unknown)
    # a command whose dependency is missing has no arguments to check: say what is missing instead
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except UserError as e:
        print(f"pipnet106: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a file system refusal not turned into a UserError where it happened
        where = f"{e.filename}: " if e.filename else ""
        print(f"pipnet106: error: {where}{(e.strerror or str(e)).lower()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pipnet106: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    raise SystemExit(main())
