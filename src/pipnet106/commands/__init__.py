"""Command-line front ends, one module per `pipnet106 <command>`.

Each module exposes `register(subparsers)` and `run(args) -> exit code` and holds
only argument handling, file output and messages; the work itself is done by the
API modules of the package (e.g. `commands.predict` over `predict.Landmarker`).
"""
