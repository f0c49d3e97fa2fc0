"""When the spool file cannot be used: one exception that names the file, the operation and the
operating system's reason; and the check that the open file is still the one at its path.

SQLite reports a failed read or write by its own result code (`SQLITE_IOERR_WRITE`,
`SQLITE_FULL`, `SQLITE_READONLY`, ...), and Python's sqlite3 module does not pass on the errno
behind it (`sqlite3_system_errno`). `os_reason` therefore asks the file system itself: is the
path still there, does a 4 KiB test write with fsync next to it succeed (else its errno: EROFS,
ENOSPC, EDQUOT, EIO, EACCES), may this user write the file (mode, owner, `chattr +i`), and how
much space is free (after SQLITE_FULL the rolled-back journal has usually freed a little).

A spool file deleted or replaced while open stays open: SQLite goes on with the old inode, and
whatever it writes there is gone when the process ends. `FileIdentity` remembers the path's
(device, inode) at open; `check` compares it with what the path names now (a `stat`, cheap
enough for every write).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path

EXIT_SPOOL = 74  # sysexits.h EX_IOERR: the publisher stops, the systemd unit restarts it


class SpoolError(Exception):
    """The spool file cannot be used (missing, not a spool, unreadable)."""


class SpoolFileError(SpoolError):
    """Reading or writing the spool file failed, or the file was deleted or replaced."""

    def __init__(self, path: Path, operation: str, reason: str) -> None:
        super().__init__(f"spool {path}: cannot {operation}: {reason}")
        self.path = path
        self.operation = operation
        self.reason = reason


def os_reason(path: Path) -> str:
    """What the file system says about writing `path` now (for an error message)."""
    if not path.exists():
        return f"{path.name} no longer exists"
    probe = path.with_name(f".{path.name}.probe-{os.getpid()}")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, bytes(4096))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as err:
        code = errno.errorcode.get(err.errno or 0, str(err.errno))
        return f"a test write in {path.parent} failed: {err.strerror} ({code})"
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    if not os.access(path, os.W_OK):
        if os.geteuid() == 0:
            return f"root may not write {path.name}: it is immutable or append-only (lsattr)"
        st = path.stat()
        return (
            f"uid {os.geteuid()} may not write {path.name} (mode {stat.filemode(st.st_mode)}, "
            f"owner uid {st.st_uid})"
        )
    return f"a test write in {path.parent} works now; {free_space(path.parent)}"


def free_space(folder: Path) -> str:
    """`N KiB of M KiB free` on the file system holding `folder` (for non-root users)."""
    try:
        st = os.statvfs(folder)
    except OSError as err:
        return f"free space unknown ({err.strerror})"
    return (
        f"{st.f_bavail * st.f_frsize // 1024} KiB of {st.f_blocks * st.f_frsize // 1024} KiB free"
    )


def from_sqlite(
    path: Path, operation: str, err: sqlite3.Error, write: bool = True
) -> SpoolFileError:
    """The SpoolFileError for an exception raised by sqlite3 during `operation`; after a failed
    write (not a read: `status` must not write) with what the file system says."""
    name = getattr(err, "sqlite_errorname", None) or type(err).__name__
    reason = f"{err} ({name})"
    return SpoolFileError(path, operation, f"{reason}; {os_reason(path)}" if write else reason)


@dataclass(frozen=True)
class FileIdentity:
    """The file a path named when the spool opened it."""

    path: Path
    device: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        st = os.stat(path)
        return cls(path, st.st_dev, st.st_ino)

    def check(self, operation: str) -> None:
        """Raise SpoolFileError if the path no longer names the file that was opened."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise SpoolFileError(
                self.path,
                operation,
                "the file was deleted while the publisher had it open (the readings waiting in "
                "it are gone with it)",
            ) from None
        except OSError as err:
            raise SpoolFileError(self.path, operation, f"cannot stat it: {err}") from err
        if (st.st_dev, st.st_ino) != (self.device, self.inode):
            raise SpoolFileError(
                self.path,
                operation,
                f"the file was replaced by another one (inode {self.inode}, now {st.st_ino}) "
                "while the publisher had it open",
            )
