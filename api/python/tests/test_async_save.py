"""save(..., blocking=False): the state is captured when save returns (later in-place changes do not
reach the checkpoint), the SaveFuture reports what the store committed, back-pressure bounds the
pending saves, a failed persist (a real full disk) surfaces at result(), at the next save and never
damages the store, close() finishes and abandon_pending_saves() drops pending saves, skip_unchanged
and CheckpointManager(async_save=True) work on top, and the persist runs without the GIL."""

import subprocess
import threading
import time

import numpy as np
import pytest
import torch

import ckptdb

MiB = 1 << 20
SMALL_CHUNK = 64 * 1024


def random_state(mib, seed=0, pieces=8):
    """A nested state of about `mib` MiB of random float32 tensors (nothing dedupes) plus non-tensor
    leaves, in `pieces` tensors of unequal sizes (so chunk boundaries fall inside tensors)."""
    g = torch.Generator().manual_seed(seed)
    total = int(mib * MiB) // 4
    sizes = [total // pieces + 1000 * k for k in range(pieces)]
    return {"model": {f"w{k}": torch.randn(n, generator=g) for k, n in enumerate(sizes)},
            "step_info": {"epoch": 3, "name": "run", "lr": 1e-3},
            "ids": np.arange(1000, dtype=np.int64)}


def clone(state):
    if isinstance(state, dict):
        return {k: clone(v) for k, v in state.items()}
    if isinstance(state, torch.Tensor):
        return state.clone()
    if isinstance(state, np.ndarray):
        return state.copy()
    return state


def scribble(state):
    """Overwrites every tensor and array of `state` in place, and its mutable non-tensor leaves."""
    with torch.no_grad():
        for t in state["model"].values():
            t.fill_(-7.0)
    state["ids"][:] = -1
    state["step_info"]["epoch"] = 99


def assert_same(restored, expected):
    assert restored.keys() == expected.keys()
    for k, v in expected.items():
        got = restored[k]
        if isinstance(v, dict):
            assert_same(got, v)
        elif isinstance(v, torch.Tensor):
            assert got.dtype == v.dtype and got.shape == v.shape, k
            assert torch.equal(got.view(torch.uint8), v.view(torch.uint8)), f"tensor {k} differs"  # bit-exact
        elif isinstance(v, np.ndarray):
            assert np.array_equal(np.asarray(got), v), k
        else:
            assert got == v, k


@pytest.mark.parametrize("staging", [None, 64 * MiB], ids=["default-staging", "staging-smaller-than-state"])
def test_changes_after_save_returns_do_not_reach_the_checkpoint(tmp_path, staging):
    # 64 MiB is one staging block, the least there is; the 150 MiB state is captured in three pieces.
    mib = 12 if staging is None else 150
    state = random_state(mib)
    expected = clone(state)
    with ckptdb.open(tmp_path / "s", chunk_size=SMALL_CHUNK, staging_bytes=staging) as store:
        future = store.save(state, step=1, blocking=False)
        scribble(state)  # right away: the persist has (most likely) not read a byte of its copy yet
        info = future.result()
        assert info.logical_bytes >= mib * MiB and info.new_bytes == info.logical_bytes
        assert_same(store.restore(), expected)
        assert store.verify()["damage"] == []
        # The scribbled state saves as itself too (the capture is per save, not remembered).
        store.save(state, step=2, blocking=False).result()
        assert_same(store.restore(step=2), state)
        assert_same(store.restore(step=1), expected)


def test_the_future_reports_what_the_store_committed(tmp_path):
    state = random_state(128)
    with ckptdb.open(tmp_path / "s", chunk_size=SMALL_CHUNK, threads=1) as store:
        future = store.save(state, step=5, metrics={"loss": 0.5}, tags=["t"], metadata={"k": "v"}, blocking=False)
        assert isinstance(future, ckptdb.SaveFuture) and future.step == 5
        # 128 MiB hashed on one thread, written and synced: not over microseconds after capture.
        with pytest.raises(TimeoutError):
            future.result(timeout=0)
        with pytest.raises(TimeoutError):
            future.exception(timeout=0.001)
        assert future.exception() is None  # waits
        assert future.done()
        info = future.result(timeout=0)
        assert future.result() is info  # every call the same result
        assert info == store.log()[-1]
        shown = store.show(id=info.id)
        assert (shown["id"], shown["step"], shown["new_bytes"], shown["logical_bytes"], shown["metrics"],
                tuple(shown["tags"])) == (info.id, 5, info.new_bytes, info.logical_bytes, {"loss": 0.5}, ("t",))
        assert shown["metadata"] == {"k": "v"}
        assert info.parent is None and info.tensors == len(state["model"]) + 1
        second = store.save(state, step=6, blocking=False).result()
        assert second.parent == info.id and second.new_bytes == 0  # same bytes: every chunk known
        assert "done" in repr(future)


def test_input_errors_are_raised_by_save_itself(tmp_path):
    with ckptdb.open(tmp_path / "s") as store:
        with pytest.raises(TypeError):
            store.save({"x": {1, 2}}, step=1, blocking=False)
        with pytest.raises(ckptdb.InvalidArgumentError):
            store.save({"x": torch.ones(2)}, step=1, tags=[""], blocking=False)
        assert store.log() == []
    with pytest.raises(ValueError):
        ckptdb.open(tmp_path / "t", max_pending_saves=0)
    with pytest.raises(ValueError):
        ckptdb.open(tmp_path / "t", staging_bytes=-1)


def test_back_pressure_a_second_save_waits_for_the_first_to_commit(tmp_path):
    big, small = random_state(96), {"w": torch.ones(10)}
    with ckptdb.open(tmp_path / "s", chunk_size=SMALL_CHUNK, threads=1, max_pending_saves=1) as store:
        first = store.save(big, step=1, blocking=False)
        second = store.save(small, step=2, blocking=False)
        assert first.done()  # the second capture waited for the first commit
        assert first.exception(timeout=0) is None
        assert [c.step for c in store.log()][:1] == [1]
        assert second.result().parent == first.result().id  # commits in call order


def test_saves_commit_in_call_order_sync_and_async_mixed(tmp_path):
    with ckptdb.open(tmp_path / "s", chunk_size=SMALL_CHUNK, max_pending_saves=2) as store:
        a = store.save(random_state(16, seed=1), step=1, blocking=False)
        b = store.save(random_state(16, seed=2), step=2, blocking=False)
        c = store.save({"w": torch.zeros(3)}, step=3)  # synchronous: waits for both before it
        assert a.done() and b.done()
        assert [x.step for x in store.log()] == [1, 2, 3]
        assert c.parent == b.result().id and b.result().parent == a.result().id


@pytest.fixture
def full_disk(tmp_path):
    """A 16 MiB tmpfs: a real file system that runs out of space."""
    d = tmp_path / "tmpfs"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(d)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a 16 MiB tmpfs to fill (needs root and mount): {r.stderr.strip() or r.returncode}")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=False)


def test_a_failed_persist_is_reported_at_result_and_at_the_next_save_and_damages_nothing(full_disk):
    earlier = random_state(1, seed=3)
    with ckptdb.open(full_disk / "s", chunk_size=SMALL_CHUNK) as store:
        first = store.save(earlier, step=1)
        too_big = random_state(24, seed=4)  # more than the whole file system
        future = store.save(too_big, step=2, blocking=False)  # captured in memory: returns fine
        with pytest.raises(ckptdb.IOError) as at_result:
            future.result()
        assert "No space left on device" in str(at_result.value)
        assert isinstance(future.exception(), ckptdb.IOError)
        small = {"w": torch.arange(100, dtype=torch.float32)}
        with pytest.raises(ckptdb.IOError) as at_next:
            store.save(small, step=3)
        assert "an earlier asynchronous save failed, so nothing was saved" in str(at_next.value)
        assert "No space left on device" in str(at_next.value)
        assert [c.step for c in store.log()] == [1]  # neither the failed save nor the refused one
        store.gc()  # what the failed persist wrote is garbage; give its space back
        retried = store.save(small, step=3, blocking=False).result()  # reported once: a retry proceeds
        assert retried.parent == first.id
        assert [c.step for c in store.log()] == [1, 3]
        assert_same(store.restore(step=1), earlier)
        assert torch.equal(store.restore(step=3)["w"], small["w"])
        assert store.verify()["damage"] == []
    with ckptdb.open(full_disk / "s") as store:  # and after reopening
        assert [c.step for c in store.log()] == [1, 3]
        assert_same(store.restore(step=1), earlier)


def test_a_failed_persist_nobody_reported_is_raised_by_close(full_disk):
    store = ckptdb.open(full_disk / "s", chunk_size=SMALL_CHUNK)
    store.save({"w": torch.ones(10)}, step=1)
    store.save(random_state(24, seed=5), step=2, blocking=False)
    with pytest.raises(ckptdb.IOError, match="No space left on device"):
        store.close()
    assert store.closed
    with ckptdb.open(full_disk / "s") as again:
        assert [c.step for c in again.log()] == [1]


def test_close_finishes_a_pending_save(tmp_path):
    state = random_state(64, seed=6)
    expected = clone(state)
    store = ckptdb.open(tmp_path / "s", chunk_size=SMALL_CHUNK, threads=1)
    future = store.save(state, step=9, blocking=False)
    scribble(state)
    store.close()
    assert future.done()  # close waited for it; the handle outlives the store
    info = future.result()
    with ckptdb.open(tmp_path / "s") as again:
        assert again.log() == [info]
        assert_same(again.restore(), expected)


def test_abandon_drops_pending_saves_consistently(tmp_path):
    states = [random_state(64, seed=10 + k) for k in range(3)]
    expected = [clone(s) for s in states]
    store = ckptdb.open(tmp_path / "s", chunk_size=SMALL_CHUNK, threads=1, max_pending_saves=3)
    futures = [store.save(s, step=k + 1, blocking=False) for k, s in enumerate(states)]
    dropped = store.abandon_pending_saves()
    assert dropped == sorted(dropped) and dropped  # the third (at least) had not started persisting
    aborted = [f.step for f in futures if isinstance(f.exception(), ckptdb.AbortedError)]
    assert aborted == dropped
    with pytest.raises(ckptdb.AbortedError):
        futures[-1].result()
    committed = [f.step for f in futures if f.exception() is None]
    assert sorted(committed + aborted) == [1, 2, 3]
    assert [c.step for c in store.log()] == committed
    for step in committed:
        assert_same(store.restore(step=step), expected[step - 1])
    assert store.abandon_pending_saves() == []
    after = store.save({"w": torch.ones(4)}, step=4, blocking=False).result()  # the store goes on
    assert after.parent == (futures[committed[-1] - 1].result().id if committed else None)
    store.gc()
    assert store.verify()["damage"] == []
    store.close()
    with ckptdb.open(tmp_path / "s") as again:
        assert [c.step for c in again.log()] == committed + [4]


def test_skip_unchanged_without_blocking(tmp_path):
    state = random_state(8, seed=20)
    with ckptdb.open(tmp_path / "s", chunk_size=SMALL_CHUNK) as store:
        first = store.save(state, step=1, skip_unchanged=True, blocking=False)
        second = store.save(state, step=2, skip_unchanged=True, blocking=False)  # resolves `first` first
        assert first.done()
        assert second.result().new_bytes == 0  # nothing changed: every tensor by its known chunks
        assert_same(store.restore(step=2), state)
        with torch.no_grad():
            state["model"]["w3"].add_(1.0)
        changed = clone(state)
        third = store.save(state, step=3, skip_unchanged=True, blocking=False)
        with torch.no_grad():
            state["model"]["w3"].zero_()  # after the capture: not in step 3
        info = third.result()
        w3 = changed["model"]["w3"].numel() * 4
        assert 0 < info.new_bytes <= w3 + 2 * SMALL_CHUNK  # the changed tensor only (and the ids array)
        assert_same(store.restore(step=3), changed)
        sync = store.save(state, step=4, skip_unchanged=True)  # a synchronous one after an async one
        assert_same(store.restore(step=4), state)
        assert sync.new_bytes <= w3 + 2 * SMALL_CHUNK


def test_skip_unchanged_async_whose_remembered_chunks_were_collected(tmp_path):
    state = random_state(2, seed=21)
    with ckptdb.open(tmp_path / "s", chunk_size=SMALL_CHUNK) as store:
        first = store.save(state, step=1, skip_unchanged=True, blocking=False).result()
        store.save({"other": torch.ones(3)}, step=2)
        store.rm(id=first.id)
        store.gc()  # reclaims every chunk the remembered lists name
        doomed = store.save(state, step=3, skip_unchanged=True, blocking=False)
        with pytest.raises(ckptdb.FailedPreconditionError):
            doomed.result()
        with pytest.raises(ckptdb.FailedPreconditionError, match="an earlier asynchronous save failed"):
            store.save(state, step=3, skip_unchanged=True, blocking=False)
        # The cache was dropped with that failure: this save reads every tensor.
        info = store.save(state, step=3, skip_unchanged=True, blocking=False).result()
        assert info.new_bytes == info.logical_bytes
        assert_same(store.restore(step=3), state)
        assert store.verify()["damage"] == []


def test_manager_async_save(tmp_path):
    state = random_state(24, seed=30)
    saved = {}
    with ckptdb.CheckpointManager(tmp_path / "m", save_interval_steps=2, max_to_keep=2, async_save=True,
                                  chunk_size=SMALL_CHUNK) as mgr:
        for step in range(10):
            with torch.no_grad():
                for t in state["model"].values():
                    t.add_(1.0)
            state["step_info"]["epoch"] = step
            if mgr.should_save(step):
                assert mgr.save(step, state) is True
                saved[step] = clone(state)
                # Pending or committed, this step is taken: never saved twice.
                assert not mgr.should_save(step)
                assert mgr.save(step, state) is False
        mgr.wait_until_finished()
        assert mgr.all_steps() == [6, 8] and mgr.latest_step() == 8
        assert_same(mgr.restore(8), saved[8])
        assert_same(mgr.restore(6), saved[6])
        mgr.save(10, state)
    with ckptdb.open(tmp_path / "m") as store:  # close finished the pending one
        assert [c.step for c in store.log()] == [8, 10]
        assert_same(store.restore(), state)


def test_manager_should_save_counts_a_pending_step(tmp_path):
    big = random_state(96, seed=31)
    with ckptdb.CheckpointManager(tmp_path / "m", save_interval_steps=1, async_save=True, chunk_size=SMALL_CHUNK,
                                  threads=1) as mgr:
        assert mgr.save(4, big)
        # The persist of 96 MiB on one hashing thread is still running: the head is not step 4 yet.
        assert mgr.latest_step() is None
        assert not mgr.should_save(4) and not mgr.should_save(3) and mgr.should_save(5)
        assert mgr.save(4, big) is False
        mgr.wait_until_finished()
        assert mgr.all_steps() == [4]


def test_manager_async_save_error_surfaces_at_wait(full_disk):
    mgr = ckptdb.CheckpointManager(full_disk / "m", async_save=True, chunk_size=SMALL_CHUNK)
    assert mgr.save(0, random_state(24, seed=32))
    with pytest.raises(TypeError):  # refused before it reaches the store: step 0 stays pending
        mgr.save(1, {"x": {1, 2}})
    with pytest.raises(ckptdb.IOError, match="No space left on device"):
        mgr.wait_until_finished()
    assert mgr.should_save(0)  # it failed: step 0 is due again
    with pytest.raises(ckptdb.IOError, match="an earlier asynchronous save failed"):
        mgr.save(0, {"w": torch.ones(2)})
    assert mgr.save(0, {"w": torch.ones(2)})
    mgr.wait_until_finished()
    assert mgr.all_steps() == [0]
    mgr.close()


def test_save_training_state_without_blocking(tmp_path):
    model = torch.nn.Linear(16, 4)
    opt = torch.optim.AdamW(model.parameters())
    with ckptdb.open(tmp_path / "s") as store:
        future = ckptdb.torch.save_training_state(store, 7, model=model, optimizer=opt, extra={"epoch": 1},
                                                  blocking=False)
        expected = {k: v.clone() for k, v in model.state_dict().items()}
        with torch.no_grad():
            model.weight.fill_(0.0)
        assert future.result().step == 7
        fresh = torch.nn.Linear(16, 4)
        step, extra = ckptdb.torch.load_training_state(store, model=fresh)
        assert step == 7 and extra == {"epoch": 1}
        for k, v in expected.items():
            assert torch.equal(fresh.state_dict()[k], v)


def test_the_persist_and_the_wait_do_not_hold_the_gil(tmp_path):
    """While a 128 MiB persist (one hashing thread, 64 KiB chunks, then write and fsync) runs and
    this thread blocks in result(), another Python thread counts loop iterations. Were the GIL held
    by the persist or by the waiting thread, the counter could not run until the save ended and
    would count ~0 during it; it must instead run at a good fraction of its pace when this thread
    merely sleeps. (The loop is pure Python: done() is polled by the waiter only, since each
    call of it is a timed wait that may give the CPU away on a busy machine.)"""
    state = random_state(128, seed=40)
    counts, stop = [0], threading.Event()

    def counter():
        n = 0
        while not stop.is_set():
            for _ in range(1000):
                n += 1
            counts[0] = n

    def counted_over(wait):
        """(iterations the counter made, seconds) while this thread runs wait()."""
        before, t0 = counts[0], time.perf_counter()
        wait()
        return counts[0] - before, time.perf_counter() - t0

    thread = threading.Thread(target=counter)
    thread.start()
    try:
        with ckptdb.open(tmp_path / "s", chunk_size=SMALL_CHUNK, threads=1) as store:
            base_n, base_s = counted_over(lambda: time.sleep(0.3))  # sleep releases the GIL
            future = store.save(state, step=1, blocking=False)
            assert not future.done(), "the persist ended at once: nothing to measure"
            n, seconds = counted_over(future.result)
            assert future.result().step == 1
    finally:
        stop.set()
        thread.join()
    assert seconds > 0.05, f"the persist took {seconds:.3f} s: too short to show anything"
    pace, base_pace = n / seconds, base_n / base_s
    assert pace >= 0.1 * base_pace, (
        f"{n} iterations in {seconds:.3f} s of persist ({pace:.0f}/s) against {base_pace:.0f}/s while "
        "sleeping: the GIL was held during the persist or the wait")


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_reserve_staging_touches_the_memory_before_the_first_save(tmp_path):
    state = random_state(96)
    with ckptdb.open(tmp_path / "s", staging_bytes=256 * MiB) as store:
        before = _rss()
        store.reserve_staging(state)  # a state: its tensors as the capture lays them, in 64 MiB blocks
        reserved = _rss() - before
        assert 96 * MiB <= reserved <= 128 * MiB + 16 * MiB, reserved
        store.reserve_staging(10 * MiB)  # already held: nothing more
        assert _rss() - before <= reserved + 4 * MiB
        held = _rss()
        f = store.save(state, step=1, blocking=False)
        assert _rss() <= held + 16 * MiB, "the capture copied into the reserved memory"
        f.result()
        assert_same(store.restore(), state)
    with ckptdb.open(tmp_path / "s", read_only=True) as reader:
        with pytest.raises(ckptdb.FailedPreconditionError, match="read-only"):
            reader.reserve_staging(MiB)
        with pytest.raises(ckptdb.FailedPreconditionError, match="read-only"):
            reader.reserve_staging(state)
    with ckptdb.open(tmp_path / "t") as other:
        with pytest.raises(ValueError, match=">= 0"):
            other.reserve_staging(-1)
        with pytest.raises(TypeError, match="cannot save a set"):
            other.reserve_staging({"s": {1}})


def test_reserve_staging_takes_what_the_capture_lays_out_not_just_the_bytes(tmp_path):
    # Each chunk is staged page-aligned: 9000 tensors of 4100 bytes (37 MB) take 8 KiB each, two
    # 64 MiB blocks where their bytes alone would count one.
    state = {f"t{i}": torch.full((1025,), float(i)) for i in range(9000)}
    with ckptdb.open(tmp_path / "s", staging_bytes=256 * MiB) as store:
        before = _rss()
        store.reserve_staging(state)
        reserved = _rss() - before
        assert 120 * MiB <= reserved <= 128 * MiB + 16 * MiB, reserved
        held = _rss()
        f = store.save(state, step=1, blocking=False)
        assert _rss() <= held + 16 * MiB, "the capture found every block it lays out"
        f.result()
        assert_same(store.restore(), state)
