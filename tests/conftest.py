"""Test-wide settings: one thread per process.

The suite runs on 2-core CI machines, often beside other work; several
processes each spinning 2 OpenMP/OpenCV threads slow each other down many
times over, while one thread each degrades gracefully. Child processes
(DDP, CLI subprocesses) inherit the environment variables.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENCV_FOR_THREADS_NUM", "1")

import cv2  # noqa: E402

cv2.setNumThreads(1)

try:
    import torch  # noqa: E402

    torch.set_num_threads(1)
except ImportError:  # the onnxruntime-only tests run without torch
    pass
