"""Argument checks the commands share: a bad value is refused by argparse in the command's own
usage, naming the flag (never a message about a Python class)."""
from __future__ import annotations

import argparse
import re



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

