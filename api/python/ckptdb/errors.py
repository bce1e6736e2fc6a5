"""ckptdb's exceptions: one class per C++ status code, each carrying the store's one-line message.

The ones with a natural Python meaning also derive from the builtin a caller would catch:
NotFoundError is a KeyError, InvalidArgumentError a ValueError, IOError an OSError.
"""


class Error(Exception):
    """Base class of every error ckptdb raises for a failed store operation."""

    def __str__(self):  # KeyError would quote the message; keep it one plain line
        return str(self.args[0]) if self.args else ""


class NotFoundError(Error, KeyError):
    """No such store, checkpoint, tensor or tag."""


class InvalidArgumentError(Error, ValueError):
    """Something passed in is malformed (a bad name, shape, policy, ...)."""


class AlreadyExistsError(Error):
    """A name that must be unique (a tag) is taken."""


class CorruptionError(Error):
    """Stored bytes failed validation (a digest, a manifest, a truncated file)."""


class IOError(Error, OSError):  # noqa: A001 - the C++ code's name, and an OSError too
    """The file system or RocksDB failed."""


class BusyError(Error):
    """Another process holds the store for writing."""


class FailedPreconditionError(Error):
    """The call is valid but the store's state forbids it (closed, read-only)."""


class ResourceExhaustedError(Error, MemoryError):
    """Memory ran out."""


class NotSupportedError(Error):
    """The store uses a feature this build does not know."""


class AbortedError(Error):
    """The operation was given up on request: an asynchronous save dropped by abandon_pending_saves()."""
