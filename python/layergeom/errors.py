"""Errors: each library status code is a subclass of layergeom.Error carrying
the library's one-line message (it names the file, offset or field and what
was expected) and the status code itself."""


class Error(Exception):
    """A layergeom call failed.  ``status`` is the library's status code,
    ``message`` its message."""

    status = 0

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class InputError(Error, ValueError):
    """Malformed or unsupported input data (status 1)."""
    status = 1


class UsageError(Error, ValueError):
    """An invalid argument (status 2)."""
    status = 2


class IOError_(Error, OSError):
    """The operating system refused a read, write or sync (status 3)."""
    status = 3


class CorruptError(Error):
    """A checksum or structural check of a store failed (status 4)."""
    status = 4


class MemoryError_(Error, MemoryError):
    """An allocation failed, or the memory budget is too small (status 5)."""
    status = 5


class BusyError(Error):
    """Another writer holds the store (status 6)."""
    status = 6


class NotFoundError(Error, LookupError):
    """No such layer, label set or file (status 7)."""
    status = 7


class StoppedError(Error):
    """The call was asked to stop (status 8)."""
    status = 8


_BY_STATUS = {c.status: c for c in (InputError, UsageError, IOError_, CorruptError,
                                    MemoryError_, BusyError, NotFoundError, StoppedError)}


def _raise(status, message):
    raise _BY_STATUS.get(status, Error)(message, status)
