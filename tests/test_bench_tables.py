"""The same-run table of bench/bench_models.py: goals judged against the official code measured in
the same run, "not measured" without it, and a clear error for a wrong checkout path."""

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import bench_models  # noqa: E402
import official_cen  # noqa: E402

SPEC = {"kind": "segmenter train", "batch": 2, "size": [240, 320], "precision": "mixed_bfloat16"}


def row(official=None, speed_goal=2.0, rss_goal=True):
    measured = {"spec": SPEC, "flops": 1e12, "speed_goal": speed_goal, "rss_goal": rss_goal}
    measured["cenkeras"] = {"median": 2.0, "min": 1.9, "max": 2.1, "peak_rss": 3.0e9}
    if official:
        measured["official"] = official
    return measured


def test_without_the_official_code_its_columns_say_not_measured():
    official, official_rss, speed_up, goal, met = bench_models.goal_cells(row())
    assert (official, official_rss, speed_up, met) == ("not measured", "not measured", "", "not measured")
    assert goal == ">= 2.0x, RSS <= official"


def test_goals_are_judged_against_the_same_run():
    cells = bench_models.goal_cells(row({"median": 4.4, "min": 4.3, "max": 4.6, "peak_rss": 3.2e9}))
    assert cells == ("4.400", "3.20", "2.20x", ">= 2.0x, RSS <= official", "yes, RSS yes")
    slower = bench_models.goal_cells(row({"median": 3.0, "min": 3.0, "max": 3.0, "peak_rss": 2.5e9}))
    assert slower[2:] == ("1.50x", ">= 2.0x, RSS <= official", "NO, RSS NO")
    assert bench_models.goal_cells(row({"median": 3.0, "min": 3.0, "max": 3.0, "peak_rss": 1e9}, None, False))[3:] == (
        "",
        "",
    )


def test_a_folder_that_is_not_the_official_checkout_is_named(tmp_path):
    with pytest.raises(ValueError, match=rf"OFFICIAL_CEN={tmp_path}: no semantic_segmentation/models/model.py"):
        official_cen.check_checkout(tmp_path)
    for part in ("semantic_segmentation", "image2image_translation"):
        (tmp_path / part / "models").mkdir(parents=True)
        (tmp_path / part / "models" / "model.py").write_text("")
    assert official_cen.check_checkout(tmp_path) == tmp_path
    with pytest.raises(SystemExit, match="bench: OFFICIAL_CEN="):
        bench_models.check_official(tmp_path / "elsewhere")


def test_the_bench_children_start_without_tensorflow():
    """Every bench child runs bench_models.py first: if importing it loaded TensorFlow, the official
    code's peak RSS would carry TensorFlow's too (and the parent's pages, shared with every child,
    could not be given back in cenkeras' children), as a run measured it once (+0.5 GB both sides)."""
    bench = Path(__file__).resolve().parent.parent / "bench"
    check = "import sys, bench_models, official_cen; print(sorted({'tensorflow', 'torch', 'keras'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", check], cwd=bench, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_step_memory_finds_what_is_alive_at_the_allocator_peak():
    """bench/step_memory.py: the allocator's bytes in use at the start and at the peak, and the
    tensors of the call still alive then (those freed before the peak, or allocated before the
    call, are not)."""
    import step_memory

    def event(allocated, addr, size, in_use, op):
        stats = {"addr": addr, "allocation_bytes": size, "bytes_allocated": in_use, "tf_op": op}
        return (allocated, stats)

    timeline = [
        event(True, 1, 100, 1100, "model/conv1/convolution"),  # 1000 in use before the call
        event(True, 2, 50, 1150, "sgd/Mul"),
        event(False, 9, 400, 750, "model/old"),  # a buffer from before the call
        event(True, 3, 700, 1450, "gradient_tape/model/conv1/Conv2DBackpropFilter"),
        event(False, 1, 100, 1350, "model/conv1/convolution"),
        event(True, 4, 10, 1360, "sgd/Sub"),  # after the peak
    ]
    events = [(picoseconds, *rest) for picoseconds, rest in enumerate(timeline)]  # in time order
    start, peak, live = step_memory.live_at_peak(events)
    assert (start, peak) == (1000, 1450)
    assert sorted(stats["addr"] for stats in live) == [1, 2, 3]
    assert [step_memory.scope_of(s["tf_op"]) for s in live] == ["model", "sgd", "gradient_tape"]
    with pytest.raises(SystemExit, match="no allocator events"):
        step_memory.live_at_peak([])
