"""progress= on Store.save, restore, restore_into, verify, gc and the safetensors import/export, and
gc(dry_run=True): what the callable is given, when, and what happens when it raises."""

import os
import threading
import time

import pytest
import torch

import ckptdb

CHUNK = 64 << 10


@pytest.fixture
def store(tmp_path):
    s = ckptdb.open(tmp_path / "store", chunk_size=CHUNK)
    yield s
    if not s.closed:
        s.close()


def state(seed, chunks=24):
    g = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(chunks * CHUNK // 4, generator=g), "b": torch.randn(100, generator=g)}


class Recorder:
    """Records every call; with first_sleep, sleeps in the first so that reports follow it."""

    def __init__(self, first_sleep=0.0, raise_at_start=None):
        self.calls, self.threads = [], set()
        self.first_sleep, self.raise_at_start = first_sleep, raise_at_start
        self._inside = 0
        self.overlapped = False

    def __call__(self, done, total):
        self._inside += 1  # the GIL is held for the call, so this count is exact
        self.overlapped |= self._inside > 1
        first = not self.calls
        self.calls.append((done, total))
        self.threads.add(threading.get_ident())
        if first and self.first_sleep:
            time.sleep(self.first_sleep)
        self._inside -= 1
        if first and self.raise_at_start is not None:
            raise self.raise_at_start

    def check(self, total):
        assert self.calls, "never called"
        assert not self.overlapped
        assert all(t == total for _, t in self.calls), self.calls
        dones = [d for d, _ in self.calls]
        assert dones == sorted(dones), "done decreased: %s" % dones
        assert dones[0] == 0 and dones[-1] == total
        assert dones.count(total) == 1, "one final call"


def test_save_reports_the_tensor_bytes_from_zero_to_total(store):
    r = Recorder(first_sleep=0.15)
    info = store.save(state(1), step=1, progress=r)
    r.check(info.logical_bytes)
    assert info.logical_bytes == (24 * CHUNK // 4 + 100) * 4
    assert len(r.calls) >= 3, "a report follows the slow start: %s" % r.calls


def test_restore_and_restore_into_report_the_bytes_they_read(store):
    s = state(2)
    info = store.save(s, step=1)
    r = Recorder(first_sleep=0.15)
    back = store.restore(progress=r)
    assert torch.equal(back["w"], s["w"])
    r.check(info.logical_bytes)
    assert len(r.calls) >= 3
    into = {"w": torch.zeros_like(s["w"])}
    r = Recorder()
    store.restore_into(into, strict=False, progress=r)
    assert torch.equal(into["w"], s["w"])
    r.check(s["w"].numel() * 4)  # only the tensor filled


def test_verify_reports_the_bytes_it_checks(store):
    store.save(state(3), step=1)
    store.save(state(4, chunks=5), step=2)
    r = Recorder()
    report = store.verify(progress=r)
    assert report["damage"] == []
    r.check(report["bytes_checked"])


def _store_with_garbage_to_rewrite(store):
    keep, drop = state(5, chunks=8)["w"], state(6, chunks=8)["w"]
    both = store.save({"keep": keep, "drop": drop}, step=1)
    store.save({"keep": keep}, step=2)
    store.rm(id=both.id)
    return keep


def test_gc_reports_the_bytes_it_copies(store):
    keep = _store_with_garbage_to_rewrite(store)
    r = Recorder()
    report = store.gc(progress=r)
    assert report["packs_rewritten"] == 1 and report["bytes_copied"] == 8 * CHUNK
    assert report["dry_run"] is False
    r.check(8 * CHUNK)
    assert torch.equal(store.restore()["keep"], keep)


def _files(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                out[os.path.relpath(os.path.join(d, n), root)] = f.read()
    return out


def _settled(store):
    """The store's files once RocksDB's own housekeeping after a full read has finished (it
    compacts table files once old snapshots are released: see store_gc_dry_run_test.cc)."""
    store.verify()
    files = _files(store.path)
    for _ in range(50):
        time.sleep(0.2)
        now = _files(store.path)
        if now == files:
            return files
        files = now
    pytest.fail("the store's files kept changing")


def test_gc_dry_run_changes_nothing_and_predicts_the_collection(tmp_path):
    with ckptdb.open(tmp_path / "store", chunk_size=CHUNK) as store:
        _store_with_garbage_to_rewrite(store)
        store.save({"x": state(7, chunks=2)["w"]}, step=3)
        store.save({"x": state(8, chunks=2)["w"]}, step=4)
        store.policy(max_to_keep=2)  # applied by the next collection: step 2 goes
        before = _settled(store)
        r = Recorder()
        plan = store.gc(dry_run=True, progress=r)
        time.sleep(0.5)
        assert _files(store.path) == before, "a dry run changed a file"
        assert [c.step for c in store.log()] == [2, 3, 4]
        assert plan["dry_run"] is True
        assert [c.step for c in plan["checkpoints_removed"]] == [2]
        assert r.calls == [(0, 0)]
        real = store.gc()
        for key in ("chunks_deleted", "packs_deleted", "packs_rewritten", "bytes_copied", "live_bytes",
                    "reclaimed_bytes"):
            assert plan[key] == real[key], key
        assert [c.id for c in plan["checkpoints_removed"]] == [c.id for c in real["checkpoints_removed"]]
        assert [c.step for c in store.log()] == [3, 4]


class Stop(Exception):
    pass


def test_a_raising_callable_stops_the_save_commits_nothing_and_its_exception_is_raised(store):
    store.save(state(1, chunks=2), step=1)
    with pytest.raises(Stop):
        store.save(state(9), step=2, progress=Recorder(raise_at_start=Stop("enough")))
    with pytest.raises(KeyboardInterrupt):
        store.save(state(9), step=2, progress=Recorder(raise_at_start=KeyboardInterrupt()))
    assert [c.step for c in store.log()] == [1]
    assert store.save(state(9), step=2).step == 2  # nothing is left behind to fail the next save


def test_a_raising_callable_stops_reads_verify_and_gc(store):
    keep = _store_with_garbage_to_rewrite(store)
    with pytest.raises(Stop):
        store.restore(progress=Recorder(raise_at_start=Stop()))
    with pytest.raises(Stop):
        store.restore_into({"keep": torch.zeros_like(keep)}, progress=Recorder(raise_at_start=Stop()))
    with pytest.raises(Stop):
        store.verify(progress=Recorder(raise_at_start=Stop()))
    with pytest.raises(Stop):
        store.gc(progress=Recorder(raise_at_start=Stop()))
    assert store.gc()["packs_rewritten"] == 1  # the interrupted collection moved nothing
    assert torch.equal(store.restore()["keep"], keep)


def test_import_and_export_report_progress(store, tmp_path):
    info = store.save(state(10), step=1)
    r = Recorder()
    store.export_safetensors(tmp_path / "x.safetensors", progress=r)
    r.check(info.logical_bytes)
    r = Recorder()
    imported = store.import_safetensors(tmp_path / "x.safetensors", step=2, progress=r)
    r.check(imported.logical_bytes)


def test_progress_must_be_callable_and_needs_a_blocking_save(store):
    with pytest.raises(TypeError, match="progress must be a callable"):
        store.save(state(1, chunks=1), step=1, progress=5)
    with pytest.raises(ValueError, match="blocking=True"):
        store.save(state(1, chunks=1), step=1, blocking=False, progress=Recorder())
    assert store.log() == []


class FakeTqdm:
    """The part of tqdm's API the README's adapter uses (tqdm is not a dependency)."""

    def __init__(self, total=None, unit=None, unit_scale=None):
        self.total, self.n, self.closed = total, 0, False

    def update(self, n):
        self.n += n

    def close(self):
        self.closed = True


def tqdm_progress(bar):
    """The adapter the README shows: a progress= callable that drives a tqdm bar."""
    def report(done, total):
        bar.total = total
        bar.update(done - bar.n)
    return report


def test_the_readme_tqdm_adapter_fills_the_bar(store):
    bar = FakeTqdm(unit="B", unit_scale=True)
    info = store.save(state(11), step=1, progress=tqdm_progress(bar))
    assert (bar.n, bar.total) == (info.logical_bytes, info.logical_bytes)


def test_without_progress_nothing_changes(store):
    s = state(12, chunks=3)
    store.save(s, step=1)
    assert torch.equal(store.restore()["w"], s["w"])
    assert store.verify()["damage"] == []
    assert store.gc(dry_run=True)["chunks_deleted"] == 0
    assert store.gc()["dry_run"] is False


def test_the_moved_names_stay_importable():
    from ckptdb import CheckpointInfo, SaveFuture, Store
    from ckptdb import store as store_module
    assert store_module.SaveFuture is SaveFuture and store_module.CheckpointInfo is CheckpointInfo
    assert store_module.Store is Store
    assert hasattr(Store, "import_safetensors") and hasattr(Store, "export_hf")
