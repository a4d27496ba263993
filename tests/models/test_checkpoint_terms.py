"""Licence terms travel with the weights: a model initialised from another carries that model's training
data terms (with its own config's, never dropped) into best.pt, last.pt, a resumed run, the
inference-only .pt, the ONNX metadata (`training_data_terms`) and the int8 export; `eval`, `export`
and `info` show them. Only a model trained from scratch starts clean.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pipnet106.cli import main
from pipnet106.config import TERMS_SEP, combine_terms
from pipnet106.data.prepare import prepare
from pipnet106.synth.faces import generate_dataset
from pipnet106.constants import STARTER_PT as STARTER

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

STARTER_TERMS = torch.load(STARTER, weights_only=True)["config"]["data_terms"]
OWN = "own photos, consent on file"
RUN = ["--set", "batch_size=8", "--set", "workers=0", "--set", "device=cpu", "--set", "max_steps_per_epoch=1",
       "--set", "input_size=128", "--set", "width=320", "--set", "net_stride=16", "--set", "epochs=1"]


def terms_of(path: Path) -> str:
    return torch.load(path, map_location="cpu", weights_only=True)["config"]["data_terms"]


def onnx_terms(path: Path) -> str | None:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}.get("training_data_terms")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("terms")
    generate_dataset(root / "src", 16, seed=4, size_range=(140, 180))
    prepare(root / "src", root / "prep", size=128, crop="face", test_frac=0.25, workers=0, progress=False,
            verbose=False)
    return root / "prep"


@pytest.fixture(scope="module")
def tuned(data, tmp_path_factory) -> Path:
    """One step of fine-tuning from the starter, with terms of its own."""
    out = tmp_path_factory.mktemp("runs") / "ft"
    assert main(["train", "--data", str(data), "--out", str(out), "--init", "starter", *RUN,
                 "--set", f"data_terms={OWN}"]) == 0
    return out


def test_starter_carries_research_only_terms():
    assert STARTER_TERMS.startswith("non-commercial research only")


def test_combine_terms_keeps_every_source_once():
    both = combine_terms(STARTER_TERMS, OWN)
    assert both == STARTER_TERMS + TERMS_SEP + OWN
    assert combine_terms(both, OWN) == both == combine_terms(both, STARTER_TERMS)  # a fine-tune of a fine-tune
    assert combine_terms(OWN, both) == OWN + TERMS_SEP + STARTER_TERMS  # order of first appearance
    assert combine_terms("CC BY 4.0", STARTER_TERMS) == STARTER_TERMS  # a part inside another adds nothing
    assert combine_terms("", STARTER_TERMS) == STARTER_TERMS == combine_terms(STARTER_TERMS, "  ")
    assert combine_terms("a  b", "a b", "") == "a b"
    assert combine_terms("", "") == ""


def test_finetuned_checkpoints_inherit_the_starters_terms(tuned, capsys):
    want = combine_terms(STARTER_TERMS, OWN)
    assert terms_of(tuned / "best.pt") == terms_of(tuned / "last.pt") == want
    assert "epochs: 1" in (tuned / "config.yaml").read_text() and OWN in (tuned / "config.yaml").read_text()
    # info shows them
    capsys.readouterr()
    assert main(["info", "--weights", str(tuned / "best.pt")]) == 0
    assert f"training data terms: {want}" in capsys.readouterr().out


def test_inherited_terms_without_terms_of_its_own(data, tmp_path):
    out = tmp_path / "plain"
    assert main(["train", "--data", str(data), "--out", str(out), "--init", "starter", *RUN]) == 0
    assert terms_of(out / "best.pt") == terms_of(out / "last.pt") == STARTER_TERMS
    # and from that model on: the terms stay, once
    out2 = tmp_path / "again"
    assert main(["train", "--data", str(data), "--out", str(out2), "--init", str(out / "best.pt"), *RUN]) == 0
    assert terms_of(out2 / "last.pt") == STARTER_TERMS


def test_resume_keeps_the_terms(tuned, tmp_path, capsys):
    import shutil

    run = tmp_path / "resumed"
    shutil.copytree(tuned, run)
    own_yaml = tmp_path / "own.yaml"
    own_yaml.write_text(f"data_terms: {OWN}\n")  # the run's own config file again: not a change
    assert main(["train", "--resume", str(run), "--config", str(own_yaml), "--set", "epochs=2"]) == 0
    assert terms_of(run / "last.pt") == combine_terms(STARTER_TERMS, OWN)
    assert torch.load(run / "last.pt", weights_only=True)["epoch"] == 2
    # other terms are a change of the run's config, refused like any other
    assert main(["train", "--resume", str(run), "--set", "data_terms=public domain", "--set", "epochs=3"]) == 2
    assert "data_terms" in capsys.readouterr().err


def test_scratch_run_starts_clean(data, tmp_path):
    out = tmp_path / "scratch"
    with pytest.warns(UserWarning, match="from scratch"):
        assert main(["train", "--data", str(data), "--out", str(out), *RUN]) == 0
    assert terms_of(out / "last.pt") == ""


def test_exports_carry_and_show_the_terms(tuned, data, tmp_path, capsys):
    want = combine_terms(STARTER_TERMS, OWN)
    capsys.readouterr()
    assert main(["export", "--weights", str(tuned / "best.pt"), "--out", str(tmp_path / "m.onnx")]) == 0
    assert f"training data terms: {want}" in capsys.readouterr().out
    assert onnx_terms(tmp_path / "m.onnx") == want
    # the inference-only checkpoint
    assert main(["export", "--weights", str(tuned / "best.pt"), "--out", str(tmp_path / "m.pt")]) == 0
    assert f"training data terms: {want}" in capsys.readouterr().out
    assert terms_of(tmp_path / "m.pt") == want
    # int8
    assert main(["export", "--weights", str(tmp_path / "m.pt"), "--out", str(tmp_path / "q.onnx"), "--int8",
                 "--calib", str(data), "--calib-count", "8", "--quant", "pre_process=false"]) == 0
    assert f"training data terms: {want}" in capsys.readouterr().out
    assert onnx_terms(tmp_path / "q.onnx") == want
    # eval and info, from the checkpoint and from each ONNX file
    for weights in (tuned / "best.pt", tmp_path / "m.onnx", tmp_path / "q.onnx"):
        out = tmp_path / f"eval_{weights.name}"
        assert main(["eval", "--weights", str(weights), "--data", str(data), "--out", str(out), "--worst", "0"]) == 0
        assert f"training data terms: {want}" in capsys.readouterr().out, weights
        assert json.loads((out / "eval.json").read_text())["training_data_terms"] == want
        assert main(["info", "--weights", str(weights)]) == 0
        assert f"training data terms: {want}" in capsys.readouterr().out, weights
