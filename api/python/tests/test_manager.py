"""CheckpointManager: Orbax's interface over the store's transactional retention."""

import pytest
import torch

import ckptdb


def test_should_save_follows_the_interval_and_never_repeats_a_step(tmp_path):
    with ckptdb.CheckpointManager(tmp_path / "s", save_interval_steps=5) as mgr:
        assert mgr.latest_step() is None and mgr.all_steps() == []
        assert [s for s in range(12) if mgr.should_save(s)] == [0, 5, 10]
        assert mgr.save(3, {"w": torch.ones(1)}) is False  # not due: nothing saved
        assert mgr.all_steps() == []
        assert mgr.save(5, {"w": torch.ones(1)}) is True
        assert not mgr.should_save(5) and not mgr.should_save(0)
        assert mgr.save(7, {"w": torch.zeros(1)}, force=True) is True
        assert mgr.latest_step() == 7 and mgr.all_steps() == [5, 7]
        mgr.wait_until_finished()


def test_max_to_keep_rotates_in_the_save_and_keep_best_survives(tmp_path):
    losses = {1: 0.9, 2: 0.1, 3: 0.5, 4: 0.7, 5: 0.6, 6: 0.8}
    with ckptdb.CheckpointManager(tmp_path / "s", max_to_keep=2, keep_best="loss") as mgr:
        for step, loss in losses.items():
            mgr.save(step, {"w": torch.full((3,), float(step))}, metrics={"loss": loss})
            assert len(mgr.all_steps()) <= 3  # two newest plus the best, after every commit
        assert mgr.all_steps() == [2, 5, 6]
        assert mgr.best_step() == 2
        assert torch.equal(mgr.restore(2)["w"], torch.full((3,), 2.0))
        assert mgr.latest_step() == 6


def test_keep_every_steps_and_the_policy_is_the_managers(tmp_path):
    path = tmp_path / "s"
    with ckptdb.open(path) as store:
        store.policy(max_to_keep=100)
    with ckptdb.CheckpointManager(path, max_to_keep=1, keep_every_steps=10) as mgr:
        for step in range(0, 35, 5):
            mgr.save(step, {"w": torch.ones(1)})
        assert mgr.all_steps() == [0, 10, 20, 30]
        assert mgr.store.policy()["max_to_keep"] == 1
        assert mgr.best_step() is None
    with ckptdb.CheckpointManager(path) as mgr:  # no options: keep everything from now on
        assert mgr.store.policy()["max_to_keep"] == 0


def test_restore_loads_stateful_objects_in_place(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    with ckptdb.CheckpointManager(tmp_path / "s") as mgr:
        mgr.save(1, {"model": model, "optimizer": opt, "rng": ckptdb.torch.RngState(), "step": 1})
        want = torch.rand(3)
        model2 = torch.nn.Linear(4, 3)
        opt2 = torch.optim.AdamW(model2.parameters())
        restored = mgr.restore(state={"model": model2, "optimizer": opt2, "rng": ckptdb.torch.RngState()})
        assert restored["step"] == 1
        assert torch.equal(torch.rand(3), want)
        assert torch.equal(model2.weight, model.weight)
        assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
        with pytest.raises(KeyError, match="no such entry"):
            mgr.restore(state={"scheduler": torch.optim.lr_scheduler.StepLR(opt2, 1)})


def test_bad_options_raise(tmp_path):
    with pytest.raises(ValueError, match="save_interval_steps"):
        ckptdb.CheckpointManager(tmp_path / "a", save_interval_steps=0)
    with pytest.raises(ValueError, match="max_to_keep"):
        ckptdb.CheckpointManager(tmp_path / "b", max_to_keep=0)
    with pytest.raises(ValueError, match="mode"):
        ckptdb.CheckpointManager(tmp_path / "c", keep_best=("loss", "lowest"))
