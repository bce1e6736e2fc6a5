"""Mid-epoch data resume: a StatefulDataLoader's state saved with the step continues, after a
kill, with exactly the next batch, without re-reading the batches before the save."""

import os
import subprocess
import sys
from collections import Counter

import pytest

pytest.importorskip("torchdata")

CHILD = os.path.join(os.path.dirname(__file__), "data_resume_child.py")


def run(store, log_dir, out, *flags):
    log_dir.mkdir(exist_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, CHILD, str(store), str(log_dir), str(out), *flags], env=env,
                          capture_output=True, text=True, timeout=120)


def batches(path):
    return path.read_text().splitlines()


def reads(log_dir):
    return [int(line) for f in log_dir.iterdir() for line in f.read_text().split()]


# Batch 5 is mid-epoch 0 (8 batches an epoch); batch 11 is mid-epoch 1, after a reshuffle.
@pytest.mark.parametrize("save_at,kill_at", [(5, 7), (11, 14)])
def test_resumed_batches_continue_exactly_and_skipped_samples_are_not_read_again(tmp_path, save_at, kill_at):
    whole = run(tmp_path / "whole", tmp_path / "reads-whole", tmp_path / "whole.txt")
    assert whole.returncode == 0, whole.stderr
    expected = batches(tmp_path / "whole.txt")
    assert len(expected) == 16 and expected[:8] != expected[8:]  # two epochs, reshuffled

    killed = run(tmp_path / "store", tmp_path / "reads-killed", tmp_path / "killed.txt",
                 "--save-at", str(save_at), "--kill-at", str(kill_at))
    assert killed.returncode == -9, killed.stderr
    assert batches(tmp_path / "killed.txt") == expected[:kill_at]
    resumed = run(tmp_path / "store", tmp_path / "reads-resumed", tmp_path / "resumed.txt")
    assert resumed.returncode == 0, resumed.stderr
    # The resumed run starts with the batch after the saved one, however far the killed run got.
    assert batches(tmp_path / "resumed.txt") == expected[save_at:]
    # Its workers read exactly the samples of the batches after the save, each once: none of the
    # batches before it (the uninterrupted run read each sample once an epoch too).
    wanted = Counter(int(i) for line in expected[save_at:] for i in line.split())
    assert Counter(reads(tmp_path / "reads-resumed")) == wanted
    assert Counter(reads(tmp_path / "reads-whole")) == Counter({i: 2 for i in range(30)})
