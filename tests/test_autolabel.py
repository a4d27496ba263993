"""The teacher's 478->106 table ships with the package; without the teacher env the command says what to do."""
from __future__ import annotations

import numpy as np
import pytest

from pipnet106 import autolabel
from pipnet106.cli import main


def test_mesh_table_is_a_convex_map():
    w, meta = autolabel.load_mesh_table()
    assert w.shape == (106, 478)
    assert (w >= 0).all()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-3)
    assert meta["held_out_faces"] > 0


def test_autolabel_without_teacher_is_one_line(tmp_path, monkeypatch, capsys):
    import importlib.util

    if importlib.util.find_spec("mediapipe") is not None:
        pytest.skip("this environment has the teacher")
    monkeypatch.setattr(autolabel, "_teacher_python", lambda: None)
    (tmp_path / "src").mkdir()
    assert main(["autolabel", str(tmp_path / "src"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "make teacher-env" in err[0]
    assert not (tmp_path / "out").exists()
