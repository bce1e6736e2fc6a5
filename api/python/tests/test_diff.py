"""Store.diff: the same answer as `ckptdb diff --json [--stats]`, as plain Python objects."""

import json
import math
import os
import pathlib
import subprocess

import pytest
import torch

import ckptdb

CHUNK = 64 << 10


def cli_path():
    """The ckptdb binary of the build whose package is imported (BUILD/python/ckptdb -> BUILD/ckptdb)."""
    exe = os.environ.get("CKPTDB_CLI") or pathlib.Path(ckptdb.__file__).resolve().parents[2] / "ckptdb"
    if not pathlib.Path(exe).is_file():
        pytest.skip(f"no ckptdb binary at {exe}")
    return str(exe)


def cli_diff(path, a, b, *flags):
    r = subprocess.run([cli_path(), "diff", str(path), a, b, "--json", *flags], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def as_cli_json(d):
    """What the CLI prints for `d`: a NaN or an infinity is written as null."""
    out = dict(d)
    out["changed"] = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in c.items()}
                      for c in d["changed"]]
    return out


@pytest.fixture
def history(tmp_path):
    """A store with two checkpoints whose tensors are kept, changed in a few chunks, retyped,
    removed and added; the store stays open (the CLI reads it beside the writer)."""
    g = torch.Generator().manual_seed(1)
    a = {"w": torch.randn(100000, generator=g), "same": torch.randn(300, generator=g),
         "gone": torch.ones(3), "ints": torch.arange(10), "retyped": torch.zeros(4),
         "half": torch.randn(64, generator=g).to(torch.bfloat16), "nan": torch.zeros(5)}
    b = {k: v.clone() for k, v in a.items() if k != "gone"}
    b["w"][5] += 0.5     # chunk 0
    b["w"][50000] -= 2   # chunk 3 (bytes 200000..)
    b["ints"][3] = 99
    b["retyped"] = torch.zeros(2, 2)
    b["half"][0] = 3
    b["nan"][1] = float("nan")
    b["new"] = torch.ones(2)
    s = ckptdb.open(tmp_path / "store", chunk_size=CHUNK)
    s.save(a, step=10, tags=["base"])
    s.save(b, step=20, metrics={"loss": 0.5})
    yield s, a, b
    s.close()


def test_diff_names_what_changed_and_by_how_many_chunks(history):
    s, a, b = history
    d = s.diff(10, 20)
    assert d["added"] == ["new"] and d["removed"] == ["gone"] and d["unchanged"] == ["same"]
    changed = {c["name"]: c for c in d["changed"]}
    assert [c["name"] for c in d["changed"]] == sorted(changed)
    assert changed["w"] == {"name": "w", "chunks_changed": 2, "bytes_changed": 2 * CHUNK}
    assert changed["ints"]["chunks_changed"] == 1 and changed["ints"]["bytes_changed"] == 80
    assert set(changed) == {"w", "ints", "retyped", "half", "nan"}
    assert all("max_abs_diff" not in c for c in d["changed"]), "statistics only with stats"


def test_diff_matches_the_cli_json(history):
    s, _, _ = history
    assert s.diff(10, 20) == cli_diff(s.path, "10", "20")
    assert s.diff({"tag": "base"}, None) == cli_diff(s.path, "tag:base", "head")
    assert s.diff({"id": 2}, {"best": "loss"}) == cli_diff(s.path, "id:2", "best:loss:min")


def test_stats_match_the_cli_and_torch(history):
    s, a, b = history
    d = s.diff(10, 20, stats=True)
    assert as_cli_json(d) == cli_diff(s.path, "10", "20", "--stats")
    changed = {c["name"]: c for c in d["changed"]}
    delta = (b["w"].double() - a["w"].double())
    assert changed["w"]["max_abs_diff"] == delta.abs().max().item()
    assert changed["w"]["l2_diff"] == pytest.approx(delta.norm().item(), rel=1e-12)
    assert changed["half"]["max_abs_diff"] == (b["half"].double() - a["half"].double()).abs().max().item()
    assert math.isnan(changed["nan"]["max_abs_diff"]) and math.isnan(changed["nan"]["l2_diff"])
    assert "max_abs_diff" not in changed["ints"], "integer tensors get no statistics"
    assert "max_abs_diff" not in changed["retyped"], "nor do tensors whose shape changed"


def test_a_checkpoint_against_itself_changes_nothing(history):
    s, a, _ = history
    d = s.diff(10, {"step": 10}, stats=True)
    assert d == {"added": [], "removed": [], "unchanged": sorted(a), "changed": []}


def test_bad_selectors_are_refused_with_a_one_line_reason(history):
    s, _, _ = history
    with pytest.raises(ckptdb.NotFoundError, match="step 30"):
        s.diff(10, 30)
    with pytest.raises(ValueError, match="b must hold one of step, id, tag, at, best"):
        s.diff(10, {"tag": "base", "id": 1})
    with pytest.raises(ValueError, match="a must hold one of"):
        s.diff({"nope": 1}, 20)
    with pytest.raises(TypeError, match="a must be a step \\(int\\), None \\(the head\\) or a dict"):
        s.diff("10", 20)
    s.close()
    with pytest.raises(ckptdb.FailedPreconditionError, match="is closed"):
        s.diff(10, 20)
