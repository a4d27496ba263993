"""The package's front door: lazy top-level API, torch-free inference and config, API modules free of CLI code."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pipnet106
from pipnet106 import constants

GROUP = Path(__file__).parent / "fixtures" / "group4.jpg"


def _run(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def test_top_level_api_is_lazy_and_torch_free():
    """`from pipnet106 import Landmarker, Face` + the default model imports no torch; plain import pulls in nothing heavy."""
    out = _run(f"""
import sys
import pipnet106
heavy = [m for m in ('torch', 'cv2', 'onnxruntime', 'pipnet106.infer.landmarker') if m in sys.modules]
from pipnet106 import Face, Landmarker
faces = Landmarker.default().predict({str(GROUP)!r})
assert all(isinstance(f, Face) for f in faces)
print('heavy', heavy, 'faces', len(faces), 'torch', 'torch' in sys.modules)
""")
    assert "heavy [] faces 4 torch False" in out, out


def test_config_validation_does_not_import_torch(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("backbone: resnet18\n")
    out = _run(f"""
import sys
from pipnet106.config import load_config
from pipnet106.errors import UserError
load_config({str(cfg)!r}, ["input_size=128"])
try:
    load_config({str(cfg)!r}, ["backbone=resnet17"])
except UserError as e:
    print('refused', 'resnet18' in str(e))
print('torch', 'torch' in sys.modules)
""")
    assert "refused True" in out and "torch False" in out, out


def test_builtin_backbone_names_match_the_registry():
    pytest.importorskip("torch")
    from pipnet106.models import BACKBONES

    assert set(constants.BACKBONE_NAMES) == set(BACKBONES)  # a new built-in backbone must be named in constants


def test_unknown_top_level_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Landmarkr'"):
        pipnet106.Landmarkr  # noqa: B018
    assert {"Face", "Landmarker"} <= set(dir(pipnet106))


def test_every_command_lives_in_cli_and_uses_the_public_class():
    import pipnet106.infer.landmarker as api
    from pipnet106.cli.main import COMMANDS

    assert all(module == name or (name, module) == ("eval", "eval") for name, (module, _) in COMMANDS.items())
    assert not hasattr(api, "register") and not hasattr(api, "run")
    from pipnet106.cli import predict as cmd

    assert cmd.Landmarker is pipnet106.Landmarker is api.Landmarker
