"""The entry point: ``pipnet106 <command>``.

Each command module of this folder exposes ``register(subparsers)``, which adds its
parser and sets ``func``; this file wires them together and turns `UserError` into a
one-line message with exit code 2. The argument checks the commands share live in
`cli.args`.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import os
import re
import sys

from .. import __version__
from ..errors import UserError

# command -> (module in cli/, one-line help), in the order shown by --help. Only the module of the
# command being run is imported (torch alone takes seconds to import), so `--help` and `predict`
# with an ONNX model start fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("prepare", "check labelled photos and build a training folder"),
    "show": ("show", "draw labels (coloured by region, with index numbers) to check the point order"),
    "info": ("info", "show model size, grid, parameters and FLOPs of a config"),
    "train": ("train", "train a PIPNet model on a prepared dataset (resumable)"),
    "eval": ("eval", "evaluate a checkpoint on a prepared dataset (NME, AUC, FR, per region)"),
    "compare": ("compare", "train, evaluate and time several heads (pip, regression, simcc, heatmap) on the same data"),
    "export": ("export", "export a checkpoint to ONNX (preprocessing and decoding included)"),
    "predict": ("predict", "106 points for every face in an image, a folder or a video"),
    "retouch": ("retouch", "slim face, bigger eyes, nose/lip/chin shaping, makeup, skin (image, folder, video)"),
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
        hint = ("pip install 'pipnet106[torch]', or a CPU-only torch first: see docs/install.md"
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


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"pipnet106: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code. Warnings print as one line while it runs (no source
    lines from deep inside the package); the caller's warning format is restored afterwards."""
    import warnings

    before = warnings.formatwarning
    warnings.formatwarning = _one_line_warning
    try:
        return _main(argv)
    finally:
        warnings.formatwarning = before


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's flush at exit does not raise on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):   # no file descriptor (stdout replaced in-process): nothing to flush
        pass


def _main(argv: list[str] | None) -> int:
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
        sys.stdout.flush()   # a closed pipe shows here, inside the handlers below, not at interpreter exit
    except UserError as e:
        print(f"pipnet106: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`| head`): not an error, and nothing more to say
        _silence_stdout()
        return 141   # 128 + SIGPIPE, as a shell reports a command killed by the closed pipe
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
