"""The command line: `pipnet106 <command>`.

One module per command with `register(subparsers)` and `run(args) -> exit code`: argument
handling, files and messages only; the work is done by the API modules below. Nothing
outside `cli/` imports it.
"""
from .main import main

__all__ = ["main"]
