"""Test-wide settings: one thread per process; tests that need PyTorch skip where it is absent.

The suite runs on 2-core CI machines, often beside other work; several
processes each spinning 2 OpenMP/OpenCV threads slow each other down many
times over, while one thread each degrades gracefully. Child processes
(DDP, CLI subprocesses) inherit the environment variables.

`make test-min` runs the suite in an environment with the lowest allowed
versions of the light dependencies and no torch (what `pip install
'pipnet106[onnx]'` gives): a test file that imports torch at the top is not
collected there, and a test marked `@pytest.mark.torch` is skipped.
"""
import importlib.util
import os
import re
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENCV_FOR_THREADS_NUM", "1")

import cv2  # noqa: E402

cv2.setNumThreads(1)

HAVE_TORCH = importlib.util.find_spec("torch") is not None
if HAVE_TORCH:
    import torch  # noqa: E402

    torch.set_num_threads(1)

_IMPORTS_TORCH = re.compile(r"^(?:import|from)\s+(?:torch|torchvision)\b", re.M)
_not_collected: list[str] = []


@pytest.fixture(scope="session")
def lm():
    """The shipped starter with the default detector (ONNX), shared by every test that reads photos."""
    from pipnet106 import Landmarker

    return Landmarker.default()


def pytest_ignore_collect(collection_path: Path, config):
    """Without torch, skip whole test files that import it at module level."""
    if HAVE_TORCH or collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    if _IMPORTS_TORCH.search(collection_path.read_text(encoding="utf-8")):
        _not_collected.append(collection_path.name)
        return True
    return None


def pytest_collection_modifyitems(config, items):
    if HAVE_TORCH:
        return
    skip = pytest.mark.skip(reason="needs PyTorch")
    for item in items:
        if "torch" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    if not HAVE_TORCH:
        return "torch is not installed: tests that need it are skipped (files importing it are not collected)"
    return None


def pytest_terminal_summary(terminalreporter):
    if _not_collected:
        terminalreporter.write_line(f"not collected without torch: {', '.join(sorted(_not_collected))}")
