"""benchmarks/gpu_check.sh --dry-run: every step of the GPU check on tiny shapes on CPU, through the shell script."""

import json
import math
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT


@pytest.mark.slow
def test_the_gpu_check_runs_every_step_on_cpu(tmp_path):
    output = tmp_path / "gpu_check.json"
    env = {**os.environ, "PYTHON": sys.executable, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--dry-run", "--output", str(output)],
                            capture_output=True, text=True, timeout=300, env=env, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["dry_run"] and report["device"] != "cuda"
    assert list(report["presets"]) == ["d12", "d20"]
    d12, d20 = report["presets"]["d12"], report["presets"]["d20"]
    assert d20["parameters"] > d12["parameters"]  # each preset at its own (reduced) depth
    for preset in (d12, d20):
        eager, compiled = preset["steps"]
        assert (eager["compiled"], compiled["compiled"]) == (False, True)
        for row in (eager, compiled):
            assert "error" not in row, row
            assert row["tokens_per_s"] > 0 and math.isfinite(row["last_loss"])
            assert row["last_loss"] < row["first_loss"]  # the same batch every step: it is learned
        # The same weights and batch: the compiled step computes the eager one's loss.
        assert compiled["first_loss"] == pytest.approx(eager["first_loss"], rel=1e-4)
        assert preset["bf16_logits"]["top1_agreement"] > 0.9
        assert 0 < preset["bf16_logits"]["relative_difference"] < 0.05
        assert preset["generation"]["new_tokens"] == 64
