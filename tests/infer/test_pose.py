"""Head pose from landmarks (solvePnP on synth's 3-D template) and the reliability rule."""
from __future__ import annotations

import math

import numpy as np
import pytest

from pipnet106.layout import LAPA106
from pipnet106.infer.pose import DEFAULT_RULE, Pose, ReliabilityRule, head_pose, reliability
from pipnet106.synth.faces import render_face


def synth_points(seed: int, yaw: float, pitch: float, roll: float) -> np.ndarray:
    _, pts = render_face(np.random.default_rng(seed), 256, 256, yaw=yaw, pitch=pitch, roll=roll, scale=120,
                         centre=(128, 128))
    return pts


def test_pose_of_synthetic_faces_matches_the_drawn_pose():
    rng = np.random.default_rng(1)
    errors = []
    for seed in range(40):
        truth = np.array([rng.uniform(-60, 60), rng.uniform(-25, 25), rng.uniform(-40, 40)])
        p = head_pose(synth_points(seed, *truth))
        errors.append(np.array([p.yaw, p.pitch, p.roll]) - truth)
    mae = np.abs(errors).mean(axis=0)
    assert mae[0] < 2.0 and mae[1] < 2.0 and mae[2] < 1.0, mae  # expressions vary the shape a little
    assert np.abs(errors).max() < 6.0


def test_pose_signs_follow_mirror_and_in_plane_rotation():
    pts = synth_points(3, yaw=30, pitch=10, roll=0)
    p = head_pose(pts)
    m = head_pose(LAPA106.mirror_points(pts, 256))
    assert m.yaw == pytest.approx(-p.yaw, abs=0.5) and m.pitch == pytest.approx(p.pitch, abs=0.5)
    # turning the whole picture by 20 degrees clockwise adds 20 to the roll, nothing else
    a = math.radians(20)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    r = head_pose((pts - 128) @ rot.T + 128)
    assert r.roll == pytest.approx(p.roll + 20, abs=0.5)
    assert r.yaw == pytest.approx(p.yaw, abs=0.5) and r.pitch == pytest.approx(p.pitch, abs=0.5)
    # scale and position do not matter
    s = head_pose(pts * 0.2 + 1000)
    assert s.yaw == pytest.approx(p.yaw, abs=0.5) and s.roll == pytest.approx(p.roll, abs=0.5)


def test_no_pose_without_a_reference_or_with_bad_points():
    pts = synth_points(0, 0, 0, 0)
    assert head_pose(np.zeros((68, 2)), "ibug68") is None
    bad = pts.copy()
    bad[40] = np.nan
    assert head_pose(bad) is None
    assert head_pose(np.zeros((106, 2))) is None
    assert head_pose(pts[:50]) is None


def test_reliability_rule_names_each_reason():
    conf = np.full(106, 0.7)
    ok, why = reliability(conf, Pose(10, 5, 30), 100.0)
    assert ok and why == []
    ok, why = reliability(np.full(106, 0.3), Pose(-60, 40, 0), 15.0)
    assert not ok and len(why) == 4
    assert [w.split()[0] for w in why] == ["low", "yaw", "pitch", "small"]
    assert not reliability(conf, None, 15.0)[0] and reliability(conf, None, 40.0)[0]
    lax = ReliabilityRule(min_conf=0.2, max_yaw=90, max_pitch=90, min_size=0)
    assert reliability(np.full(106, 0.3), Pose(-60, 40, 0), 20.0, lax)[0]
    assert DEFAULT_RULE.min_conf == 0.5  # documented in docs/prediction.md
    assert Pose(1.234, -2.0, 3.06).to_dict() == {"yaw": 1.2, "pitch": -2.0, "roll": 3.1}


def test_face_solves_its_pose_once_per_set_of_points(monkeypatch):
    """pose, reliable and to_dict share one solvePnP; moving the points (even in place) solves again."""
    import pipnet106.infer.pose as pose_mod
    from pipnet106.layout import LAPA106
    from pipnet106.infer.landmarker import Face

    _, pts = render_face(np.random.default_rng(7), 320, 320, yaw=20, pitch=0, roll=0, scale=140, centre=(160, 160))
    face = Face(np.array([0, 0, 320, 320.0]), 1.0, pts.copy(), np.full(len(pts), 0.8), LAPA106)
    calls = []
    real = pose_mod.head_pose
    monkeypatch.setattr(pose_mod, "head_pose", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    first = face.pose
    face.reliable, face.to_dict()
    assert len(calls) == 1
    face.points[:33] += 4.0  # the contour moved in place: the pose is solved again, and differs
    assert len(calls) == 1 and face.pose.yaw != first.yaw and len(calls) == 2


def test_reliability_reasons_never_contradict_themselves():
    """Each value is compared as printed: a size of 19.96 px is 20.0 (reliable), 19.94 is 19.9
    (not), never "20 px < 20"; the same for confidence and yaw; points off their box are named."""
    import re

    conf = np.full(106, 0.7)
    assert reliability(conf, None, 19.96)[0]
    ok, why = reliability(conf, None, 19.94)
    assert not ok and why == ["small face 19.9 px < 20"]
    assert reliability(np.full(106, 0.4996), None, 40.0)[0]
    assert reliability(conf, Pose(45.04, 0, 0), 40.0)[0]
    for c, yaw, size in [(0.4949, 45.06, 19.949), (0.3, -60.0, 5.0)]:
        ok, why = reliability(np.full(106, c), Pose(yaw, 0, 0), size)
        assert not ok and len(why) == 3
        for w in why:
            nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", w)]
            assert abs(nums[0]) != nums[1], w  # the shown value differs from the limit it fails
    ok, why = reliability(conf, Pose(0, 0, 0), 40.0, agreement=0.30)
    assert not ok and why == ["points off their box (overlap 0.30 < 0.45)"]
    assert reliability(conf, Pose(0, 0, 0), 40.0, agreement=0.9)[0]
    assert reliability(conf, Pose(0, 0, 0), 40.0, agreement=None)[0]
