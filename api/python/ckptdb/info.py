"""CheckpointInfo: one checkpoint's summary, as save, log, rm and the imports return it."""

import datetime as _dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint's summary, with the fields `ckptdb log --json` prints."""

    id: int
    step: int
    parent: "int | None"
    time_ns: int  # commit time, UTC nanoseconds since the Unix epoch
    tensors: int
    logical_bytes: int
    new_bytes: int
    tags: tuple
    metrics: dict
    retired: tuple = field(default=())  # from save(): the checkpoints its retention removed

    @property
    def time(self):
        """The commit time as an aware UTC datetime (microseconds)."""
        return _dt.datetime.fromtimestamp(self.time_ns / 1e9, tz=_dt.timezone.utc)

    @classmethod
    def _from(cls, d):
        return cls(id=d["id"], step=d["step"], parent=d["parent"], time_ns=d["time_ns"], tensors=d["tensors"],
                   logical_bytes=d["logical_bytes"], new_bytes=d["new_bytes"], tags=tuple(d["tags"]),
                   metrics=dict(d["metrics"]),
                   retired=tuple(cls._from(r) for r in d.get("retired", ())))
