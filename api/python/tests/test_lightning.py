"""ckptdb.integrations.lightning against real Lightning: a training SIGKILLed mid-epoch and resumed
from the store equals an uninterrupted one bit for bit; ModelCheckpoint's top-k rotation is the
store's; unsupported values and unknown paths fail with one clear line."""

import os
import pathlib
import signal
import multiprocessing
import sys
from collections import OrderedDict

import pytest
import torch

lightning = pytest.importorskip("lightning")
pytest.importorskip("torchdata")

import ckptdb  # noqa: E402
from ckptdb.integrations.lightning import CkptdbCheckpointIO  # noqa: E402
from lightning.fabric.utilities.data import AttributeDict  # noqa: E402

import lightning as L  # noqa: E402
from lightning.pytorch.callbacks import Callback, ModelCheckpoint  # noqa: E402
from torch.utils.data import TensorDataset  # noqa: E402
from torchdata.stateful_dataloader import StatefulDataLoader  # noqa: E402

from ckptdb.integrations.lightning import RngStateCallback  # noqa: E402


# A tiny run: 64 samples, batches of 8 (8 steps an epoch), shuffled by a StatefulDataLoader (so a
# mid-epoch resume continues the same permutation), dropout (so the global RNG matters), Adam, StepLR.
class Mlp(L.LightningModule):
    def __init__(self, hidden=32):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(8, hidden), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                                       torch.nn.Linear(hidden, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=1e-2)
        return [opt], [torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)]


def data():
    g = torch.Generator().manual_seed(1234)
    ds = TensorDataset(torch.randn(64, 8, generator=g), torch.randn(64, 1, generator=g))
    return StatefulDataLoader(ds, batch_size=8, shuffle=True)


def trainer(callbacks, plugins, root, max_epochs=3):
    return L.Trainer(max_epochs=max_epochs, accelerator="cpu", devices=1, deterministic=True, logger=False,
                     enable_progress_bar=False, enable_model_summary=False, default_root_dir=root,
                     callbacks=callbacks, plugins=plugins, num_sanity_val_steps=0)


class KillAt(Callback):
    """SIGKILLs its own process after step 13. It runs before ModelCheckpoint (Lightning moves
    checkpoint callbacks last), so step 10's checkpoint is committed and step 15's never reached."""

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == 13:
            os.kill(os.getpid(), signal.SIGKILL)


class StartStep(Callback):
    def on_train_start(self, trainer, *args):
        self.step = trainer.global_step


def _run(mode, store_dir, names_dir, out_dir):
    """One training in a child process: "full" uninterrupted, "kill" killed at step 13, "resume"
    from the store's newest checkpoint; the end state goes into the store out_dir/final."""
    L.seed_everything(7)
    model = Mlp()
    io = CkptdbCheckpointIO(store_dir)
    start = StartStep()
    callbacks = [ModelCheckpoint(dirpath=names_dir, every_n_train_steps=5, save_top_k=1, save_last=True),
                 RngStateCallback(), start] + ([KillAt()] if mode == "kill" else [])
    ckpt_path = io.last_path() if mode == "resume" else None
    t = trainer(callbacks, [io], out_dir)
    t.fit(model, data(), ckpt_path=ckpt_path)
    with ckptdb.open(os.path.join(out_dir, "final")) as final:
        final.save({"model": model.state_dict(), "optim": t.optimizers[0].state_dict(),
                    "sched": t.lr_scheduler_configs[0].scheduler.state_dict(),
                    "global_step": t.global_step, "start_step": start.step, "ckpt_path": str(ckpt_path)}, step=0)


def _child(*args):
    # A real process, really SIGKILLed; the resume runs in a fresh one. forkserver: its server
    # imports Lightning once (10 s on the 2-core test machine, which spawn would pay per child) and
    # forks each child from a single-threaded process (a plain fork of the test process can
    # deadlock on a lock one of its threads held).
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["lightning", "torchdata.stateful_dataloader", "ckptdb", __name__])
    p = ctx.Process(target=_run, args=tuple(str(a) for a in args))
    p.start()
    return p


def _finish(proc):
    proc.join(120)
    return proc.exitcode


def test_killed_and_resumed_mid_epoch_equals_uninterrupted(tmp_path):
    # The uninterrupted run and the one to be killed run side by side (two cores).
    full = _child("full", tmp_path / "full-store", tmp_path / "full-names", tmp_path / "full")
    killed = _child("kill", tmp_path / "store", tmp_path / "names", tmp_path / "run")
    assert _finish(killed) == -signal.SIGKILL
    with ckptdb.open(tmp_path / "store", read_only=True) as s:
        steps = sorted(c.step for c in s.log())
    assert steps == [10, 10], steps  # top-1 and last.ckpt of step 10: mid-epoch 2 (8 steps an epoch)
    assert _finish(_child("resume", tmp_path / "store", tmp_path / "names", tmp_path / "run")) == 0
    assert _finish(full) == 0

    with ckptdb.open(tmp_path / "full" / "final", read_only=True) as s:
        want = s.restore()
    with ckptdb.open(tmp_path / "run" / "final", read_only=True) as s:
        got = s.restore()
    assert got["ckpt_path"] == str(tmp_path / "names" / "last.ckpt")
    assert got["start_step"] == 10 and want["start_step"] == 0  # it really resumed mid-epoch
    assert got["global_step"] == want["global_step"] == 24
    for name in want["model"]:
        assert torch.equal(got["model"][name], want["model"][name]), name
    assert len(want["optim"]["state"]) == 4
    for i, st in want["optim"]["state"].items():
        for k, v in st.items():
            assert torch.equal(got["optim"]["state"][i][k], v), (i, k)
    assert got["optim"]["param_groups"] == want["optim"]["param_groups"]
    assert got["sched"] == want["sched"]
    assert not list(tmp_path.rglob("*.ckpt"))


@pytest.mark.parametrize("async_save", [False, True])
def test_top_k_rotation_is_the_stores_and_keeps_exactly_best_k(tmp_path, async_save):
    class Snapshots(Callback):  # the weights after every step, to check what the store holds
        def __init__(self):
            self.at = {}

        def on_train_batch_end(self, trainer, module, *args):
            self.at[trainer.global_step] = {k: v.clone() for k, v in module.state_dict().items()}

    lightning.seed_everything(3)
    io = CkptdbCheckpointIO(tmp_path / "store", async_save=async_save)
    mc = ModelCheckpoint(dirpath=tmp_path / "names", monitor="train_loss", mode="min", save_top_k=2,
                         every_n_train_steps=2, filename="{step}-{train_loss:.4f}")
    snaps = Snapshots()
    t = trainer([snaps, mc], [io], tmp_path / "root", max_epochs=2)
    t.fit(Mlp(), data())

    held = io.paths()
    assert len(mc.best_k_models) == 2
    assert set(held) == {os.path.abspath(p) for p in mc.best_k_models}
    assert len(io.store.log()) == 2  # nothing else: every rotated-away save was removed
    for p, score in mc.best_k_models.items():
        assert held[os.path.abspath(p)].metrics == {"train_loss": pytest.approx(float(score), rel=1e-6)}
    best = io.load_checkpoint(mc.best_model_path)
    assert io.store.show(best="train_loss")["metadata"]["lightning.path"] == os.path.abspath(mc.best_model_path)
    assert io.store.show(best="train_loss")["metrics"]["train_loss"] == pytest.approx(float(mc.best_model_score))
    for k, v in best["state_dict"].items():
        assert torch.equal(v, snaps.at[best["global_step"]][k]), k
    assert isinstance(best["hyper_parameters"], dict) and best["hyper_parameters"]["hidden"] == 32
    io.teardown()  # one writer per store: the next Trainer's plugin opens it anew
    # The rotated-away saves' disk space came back beside training: nothing is left to collect.
    with ckptdb.open(tmp_path / "store") as s:
        report = s.gc()
        assert report["chunks_deleted"] == 0 and report["reclaimed_bytes"] == 0, report
    # Lightning's own resume reads it back through the plugin.
    t2 = trainer([ModelCheckpoint(dirpath=tmp_path / "names2", save_top_k=0)], [CkptdbCheckpointIO(tmp_path / "store")],
                   tmp_path / "root", max_epochs=2)
    t2.fit(Mlp(), data(), ckpt_path=mc.best_model_path)
    assert t2.global_step == 16
    assert not list(tmp_path.rglob("*.ckpt"))


@pytest.mark.parametrize("async_save", [False, True])
def test_saving_a_path_again_loads_the_newest_and_keeps_one(tmp_path, async_save):
    io = CkptdbCheckpointIO(tmp_path / "store", async_save=async_save)
    path = tmp_path / "names" / "last.ckpt"
    w = torch.zeros(2)
    for step in (1, 2, 3):
        w.fill_(float(step))  # changed in place right after each save: an async save copied it already
        io.save_checkpoint({"global_step": step, "state_dict": {"w": w}}, path)
    w.fill_(-1.0)
    io.wait_until_finished()  # the store itself, read directly, sees only what committed
    assert [c.step for c in io.store.log()] == [3]
    ck = io.load_checkpoint(str(path), map_location="meta")
    assert ck["global_step"] == 3 and ck["state_dict"]["w"].device.type == "meta"
    assert torch.equal(io.load_checkpoint(path)["state_dict"]["w"], torch.full((2,), 3.0))
    assert io.last_path() == str(path)
    io.remove_checkpoint(path)
    io.remove_checkpoint(path)  # nothing left: a no-op, as for files
    assert io.store.log() == [] and io.last_path() is None
    io.teardown()


def test_lightning_types_round_trip_faithfully(tmp_path):
    io = CkptdbCheckpointIO(tmp_path / "store")
    sd = OrderedDict(w=torch.ones(3))
    sd._metadata = OrderedDict([("", {"version": 1}), ("bn", {"version": 2})])
    ck = {"global_step": 5, "state_dict": sd,
          "hyper_parameters": AttributeDict(lr=0.1, root=pathlib.Path("/data/x"), dims=(1, pathlib.Path("y")),
                                            nested=AttributeDict(a=1))}
    io.save_checkpoint(ck, "a.ckpt")
    io.teardown()  # and reopened by the load
    got = io.load_checkpoint("a.ckpt")
    assert type(got["state_dict"]) is OrderedDict and got["state_dict"]._metadata == sd._metadata
    hp = got["hyper_parameters"]
    assert type(hp) is AttributeDict and type(hp.nested) is AttributeDict and hp.nested.a == 1
    assert hp.root == pathlib.Path("/data/x") and isinstance(hp.root, pathlib.PurePath)
    assert hp.dims == (1, pathlib.Path("y")) and type(hp.dims) is tuple
    assert hp.lr == 0.1 and torch.equal(got["state_dict"]["w"], torch.ones(3))


@pytest.mark.parametrize("value, what", [
    (torch.nn.ReLU, "cannot store a type"),
    ({1, 2}, "cannot store a builtins.set"),
    (torch.nn.ReLU(), "cannot store a torch.nn.modules.activation.ReLU"),
    (torch.Size([2, 3]), "cannot store a torch.Size"),
])
def test_unsupported_values_raise_naming_the_key_and_save_nothing(tmp_path, value, what):
    io = CkptdbCheckpointIO(tmp_path / "store")
    ck = {"global_step": 1, "state_dict": {"w": torch.ones(1)}, "hyper_parameters": AttributeDict(act=value)}
    with pytest.raises(TypeError) as e:
        io.save_checkpoint(ck, tmp_path / "x.ckpt")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("checkpoint['hyper_parameters']['act']: " + what), msg
    assert io.store.log() == []
    io.teardown()


def test_unknown_path_raises_file_not_found_naming_store_and_path(tmp_path):
    io = CkptdbCheckpointIO(tmp_path / "store")
    io.save_checkpoint({"global_step": 1}, tmp_path / "there.ckpt")
    with pytest.raises(FileNotFoundError) as e:
        io.load_checkpoint(tmp_path / "missing.ckpt")
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "store") in msg and str(tmp_path / "missing.ckpt") in msg, msg
    t = trainer([], [io], tmp_path / "root", max_epochs=1)
    with pytest.raises(FileNotFoundError, match="no checkpoint saved for"):
        t.fit(Mlp(), data(), ckpt_path=tmp_path / "missing.ckpt")
    with pytest.raises(TypeError, match="storage_options"):
        io.save_checkpoint({"global_step": 1}, tmp_path / "y.ckpt", storage_options={"x": 1})
    io.teardown()
