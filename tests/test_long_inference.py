"""Long inference stays flat: many image sizes neither grow the process nor retrace the graph.

The same measurement as `bench/bench_long_inference.py` (which runs the
issue's 500 images / 1,000 calls on a wider model and prints the figures),
with a tiny model and fewer calls after the same 100-call warm-up.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
import bench_long_inference as long_inference  # noqa: E402

from cenkeras.tasks.run_models import export_run  # noqa: E402

# Many inference calls of many sizes.
pytestmark = pytest.mark.slow


def test_memory_stays_flat_and_nothing_retraces_over_many_sizes(tmp_path):
    run_dir = long_inference.train_small_run(tmp_path / "run", width=4, data_dir=tmp_path / "tfds")
    export_dir = export_run(run_dir, out=tmp_path / "export")
    sizes = long_inference.random_sizes(50, 32, 128)
    long_inference.write_frames(tmp_path / "frames", 200, sizes)
    warm, bound = long_inference.WARM_CALLS, long_inference.GROWTH_BOUND

    served = long_inference.measure_saved_model(export_dir, 400, warm, 32, 128)
    assert served["growth"] < bound, served
    predicted = long_inference.measure_predict(run_dir, tmp_path / "frames", tmp_path / "predictions", 200, warm)
    assert predicted["growth"] < bound, predicted
    assert len(list((tmp_path / "predictions").glob("*_labels.png"))) == 200
    assert long_inference.serving_traces(run_dir, sizes[:10]) == 1
