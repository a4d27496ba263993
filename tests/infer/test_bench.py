"""`pipnet106 bench`: the network and the pipeline are timed in one round-robin loop.

Timed in two loops one after the other, a change in the machine's speed between them (another
process, the CPU's clock) reads as overhead: on the shared 2-core machine the same build showed
-16% to +32% from run to run (issue 23, item 7)."""
from __future__ import annotations

from pipnet106.constants import STARTER_ONNX
from pipnet106.infer import bench as bench_mod


def test_network_and_pipeline_are_raced_together(monkeypatch):
    calls = []
    real_race = bench_mod.race

    def spy(fns, repeats, warmup=3, block=1):
        calls.append(sorted(map(str, fns)))
        return real_race(fns, 1, warmup=0, block=1)

    monkeypatch.setattr(bench_mod, "race", spy)
    rows = bench_mod.bench([STARTER_ONNX], batches=(1,), threads=(1,), repeats=1)
    assert len(calls) == 1, "network and pipeline timed in separate loops"
    assert calls[0] == sorted(map(str, [(STARTER_ONNX, "net"), (STARTER_ONNX, "pipe")]))
    assert {r["model"] for r in rows if "network_ms_per_face" in r} == {STARTER_ONNX.name}


def test_models_of_the_same_file_name_get_labels_that_tell_them_apart():
    from pathlib import Path

    from pipnet106.infer.bench import model_labels

    paths = [Path("runs/a/best.pt"), Path("runs/b/best.pt"), Path("x/starter.onnx")]
    assert model_labels(paths) == {paths[0]: "a/best.pt", paths[1]: "b/best.pt", paths[2]: "starter.onnx"}
    assert model_labels([Path("m.onnx"), Path("int8/m.onnx")]) == {Path("m.onnx"): "m.onnx", Path("int8/m.onnx"): "int8/m.onnx"}


def test_part_stage_is_its_own_column_and_overhead_stays_the_face_pipelines(monkeypatch):
    # with part models, "pipeline" used to include the local stage, so "overhead" read +90..+170%
    timed = {}
    real_race = bench_mod.race

    def spy(fns, repeats, warmup=3, block=1):
        for key, fn in fns.items():
            timed[key] = fn
        return real_race(fns, 1, warmup=0, block=1)

    monkeypatch.setattr(bench_mod, "race", spy)
    rows = bench_mod.bench([STARTER_ONNX], batches=(1,), threads=(1,), repeats=1, parts=["starter"])
    assert set(timed) == {(STARTER_ONNX, "net"), (STARTER_ONNX, "pipe"), (STARTER_ONNX, "parts")}
    # the "pipe" function is the face pipeline alone, the "parts" one runs the part models on top
    from pipnet106.infer import parts as parts_mod

    calls = []
    monkeypatch.setattr(parts_mod.PartRefiner, "refine", lambda self, *a: calls.append(1) or a[1:])
    timed[STARTER_ONNX, "pipe"]()
    assert calls == []
    timed[STARTER_ONNX, "parts"]()
    assert calls == [1]
    row = next(r for r in rows if "network_ms_per_face" in r)
    assert row["with_parts_ms_per_face"] > 0
    assert "with part models ms/face" in bench_mod.format_rows(rows)
    assert "with part models" not in bench_mod.format_rows([{k: v for k, v in row.items() if k != "with_parts_ms_per_face"}])
