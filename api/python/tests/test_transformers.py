"""ckptdb.integrations.transformers against the real Hugging Face Trainer (a tiny random GPT-2)."""

import os
import subprocess
import sys

import pytest
import torch

import ckptdb
from ckptdb.errors import InvalidArgumentError

transformers = pytest.importorskip("transformers")
from ckptdb.integrations.transformers import CkptdbCallback  # noqa: E402

import hf_trainer_child as child  # noqa: E402

CHILD = os.path.join(os.path.dirname(__file__), "hf_trainer_child.py")


def run_child(store, out, *flags):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, CHILD, str(store), str(out), *flags], env=env,
                          capture_output=True, text=True, timeout=300)


def leaves(tree, path=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from leaves(v, f"{path}.{k}")
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            yield from leaves(v, f"{path}.{i}")
    else:
        yield path, tree


def losses(log_history):
    return [(e.get("step"), e.get("loss"), e.get("grad_norm"), e.get("learning_rate"), e.get("eval_loss"))
            for e in log_history]


def assert_same_training(a, b):
    """Weights, optimizer, scheduler, RNG and TrainerState counters equal bit for bit; the logs'
    losses equal. (Runtimes and throughputs are measured, so they differ.)"""
    ta, tb = dict(leaves(a)), dict(leaves(b))
    assert ta.keys() == tb.keys()
    for key, va in ta.items():
        if key.startswith(".trainer_state.log_history"):
            continue
        vb = tb[key]
        if isinstance(va, torch.Tensor):
            assert va.dtype == vb.dtype and torch.equal(va, vb), key
        else:
            assert va == vb, key
    assert losses(a["trainer_state"]["log_history"]) == losses(b["trainer_state"]["log_history"])


@pytest.mark.parametrize("flags,kills", [([], (10, 14)), (["--async"], (14,))], ids=["sync", "async"])
def test_killed_and_resumed_ends_equal_to_an_uninterrupted_run(tmp_path, flags, kills):
    whole = run_child(tmp_path / "whole", tmp_path / "out-whole", *flags)
    assert whole.returncode == 0, whole.stderr
    # Killed at step 10 (checkpoint 8, mid-epoch 0), then at 14 (checkpoint 12, mid-epoch 1).
    for kill_at in kills:
        killed = run_child(tmp_path / "resumed", tmp_path / "out-resumed", "--kill-at", str(kill_at), *flags)
        assert killed.returncode == -9, killed.stderr
    resumed = run_child(tmp_path / "resumed", tmp_path / "out-resumed", *flags)
    assert resumed.returncode == 0, resumed.stderr
    with ckptdb.open(tmp_path / "whole") as a, ckptdb.open(tmp_path / "resumed") as b:
        assert [c.step for c in a.log()] == [c.step for c in b.log()] == [4, 8, 12, 16]
        sa, sb = a.restore(), b.restore()
        assert sa["step"] == sb["step"] == 16
        assert_same_training(sa, sb)
        assert len(sb["trainer_state"]["log_history"]) > 8
    # The Trainer wrote no checkpoint-N directories: the saves went to the store alone.
    assert os.listdir(tmp_path / "out-resumed") == [] and os.listdir(tmp_path / "out-whole") == []


class Scores:
    """compute_metrics whose score peaks at the second evaluation (step 8), so the best
    checkpoint is neither the first nor the last."""

    def __init__(self):
        self.values, self.calls = [0.1, 0.9, 0.3, 0.2], 0

    def __call__(self, prediction):
        value = self.values[self.calls]
        self.calls += 1
        return {"score": value}


def test_save_total_limit_1_keeps_the_best_checkpoint_and_loads_it_at_the_end(tmp_path):
    cb = CkptdbCallback(tmp_path / "store")
    args = child.arguments(str(tmp_path / "out"), 16, save_total_limit=1, load_best_model_at_end=True,
                           metric_for_best_model="score", greater_is_better=True)
    trainer = transformers.Trainer(model=child.model(), args=args, train_dataset=child.Tokens(child.SAMPLES, 1),
                                   eval_dataset=child.Tokens(8, 2), compute_metrics=Scores(), callbacks=[cb])
    assert cb.resume_from(trainer) is None  # an empty store: a fresh run
    trainer.train()
    store = cb.store
    # Retention ran in each save's commit: the newest checkpoint and the best one, nothing else.
    assert sorted(c.step for c in store.log()) == [8, 16]
    assert store.show(best=("eval_score", "max"))["step"] == 8
    assert trainer.state.best_metric == 0.9 and trainer.state.best_global_step == 8
    best = store.restore(step=8)
    assert best["trainer_state"]["best_global_step"] == 8
    weights = trainer.model.state_dict()
    for name, t in best["model"].items():
        assert torch.equal(weights[name], t), name
    last = store.restore(step=16)["model"]
    assert any(not torch.equal(weights[n], t) for n, t in last.items())  # it loaded 8, not the last
    assert os.listdir(tmp_path / "out") == []
    # The config kept beside each checkpoint makes it a from_pretrained directory (the model's
    # weights only: the optimizer's stay in the store).
    store.export_hf(tmp_path / "best-model", step=8)
    loaded = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "best-model").state_dict()
    for name, t in weights.items():
        assert torch.equal(loaded[name], t), name
    cb.close()


def test_resume_from_a_store_it_did_not_write_is_a_clear_error(tmp_path):
    with ckptdb.open(tmp_path / "store") as s:
        s.save({"w": torch.ones(3)}, 1)
    cb = CkptdbCallback(tmp_path / "store")
    trainer = transformers.Trainer(model=child.model(), args=child.arguments(str(tmp_path / "out"), 4),
                                   train_dataset=child.Tokens(8, 1), eval_dataset=child.Tokens(4, 2))
    with pytest.raises(InvalidArgumentError, match="the head was not saved by CkptdbCallback"):
        cb.resume_from(trainer)
    cb.close()
    with ckptdb.open(tmp_path / "store") as s:
        assert [c.step for c in s.log()] == [1]


def test_save_strategy_best_saves_each_new_best_only_and_writes_no_directory(tmp_path):
    cb = CkptdbCallback(tmp_path / "store")
    args = child.arguments(str(tmp_path / "out"), 16, save_strategy="best", metric_for_best_model="score",
                           greater_is_better=True)
    trainer = transformers.Trainer(model=child.model(), args=args, train_dataset=child.Tokens(child.SAMPLES, 1),
                                   eval_dataset=child.Tokens(8, 2), compute_metrics=Scores(), callbacks=[cb])
    trainer.train()
    # Scores 0.1, 0.9, 0.3, 0.2 at steps 4, 8, 12, 16: new bests at 4 and 8.
    assert [(c.step, c.metrics["eval_score"]) for c in cb.store.log()] == [(4, 0.1), (8, 0.9)]
    assert trainer.state.best_metric == 0.9 and trainer.state.best_global_step == 8
    assert os.listdir(tmp_path / "out") == []
    cb.close()
