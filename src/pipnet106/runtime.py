"""Where networks run: onnxruntime sessions made one way for every network the package runs
(landmarks, BlazeFace), and the check of a PyTorch device asked for by name.

Imported only where a session is built or a device chosen, so `import pipnet106` needs neither
onnxruntime nor torch.
"""
from __future__ import annotations

from .errors import UserError


ORT_CONFIG = {"session.force_spinning_stop": "1"}
"""onnxruntime session settings of every network the package runs (landmarks, BlazeFace).

onnxruntime's pool threads spin, busy, after each run until more work comes (about 20 ms of a core
per run, measured), so the crops, the mapping back, the detector's other network and the app
between two runs competed with a spinning thread for the same cores: at 2 threads on 2 cores
`pipnet106 bench` measured the pipeline at 6.8-7.0 ms per face for networks of 2.1-6.4 ms.
`force_spinning_stop` keeps the spinning inside a run, where it speeds up the many short
operators (turning it off altogether, `session.intra_op.allow_spinning` 0, made the network itself
10-50% slower at 2 threads), and stops it when the run returns. On a loaded 2-core machine the
2-thread network then took 7-9 instead of 10-13 ms per face, and a tracked face with the detector's
scan 17 instead of 26-31 ms per frame (benchmarks/pipeline_overhead.py; docs/benchmarks.md, "What the pipeline adds to the network")."""


def ort_session_options(threads: int | None = None):
    """`onnxruntime.SessionOptions` with `ORT_CONFIG`, `threads` intra-op threads (None: onnxruntime's
    default, one per physical core) and one inter-op thread, errors-only logging."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3  # errors only; a bad file is reported by the caller in one line
    if threads:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    for key, value in ORT_CONFIG.items():
        so.add_session_config_entry(key, value)
    return so


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
        raise UserError("--device mps: PyTorch finds no Apple GPU (MPS) on this machine; use --device cpu")
