"""What file system a path lives on, to warn where a flock cannot reach other hosts.

Read from ``/proc/self/mountinfo`` (the mount with the longest mount point above the path).
Only warnings come of it: a network file system may still be used by one host, and mount
options of other hosts cannot be seen from here (see docs/hdf5.md, "HDF5 on a shared file
system").
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

NETWORK_TYPES = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "lustre",
                 "gpfs", "beegfs", "afs", "ocfs2", "gfs2", "fuse.sshfs", "fuse.glusterfs",
                 "fuse.cephfs", "fuse.s3fs", "fuse.gcsfuse")  # fmt: skip
_checked: set[str] = set()  # directories already looked at


class NetworkFileSystemWarning(UserWarning):
    """A file on a network file system is locked with flock, which may not reach other hosts."""


def mount_of(path: Path, mountinfo: str | None = None) -> tuple[str, str, set[str]]:
    """(mount point, file system type, mount and super options) of the mount holding ``path``."""
    if mountinfo is None:
        try:
            with open("/proc/self/mountinfo") as handle:
                mountinfo = handle.read()
        except OSError:
            return "/", "", set()
    target = os.path.realpath(path)
    best = ("/", "", set[str]())
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 6:
            continue
        point = fields[4].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]):
            after = line.split(" - ", 1)[1].split()
            options = set(fields[5].split(",")) | set(after[2].split(",") if len(after) > 2 else ())
            best = (point, after[0] if after else "", options)
    return best


def check_mount(path: Path, kind: str, mountinfo: str | None = None) -> str | None:
    """Warn (once per directory) where the file system undoes what the lock ``kind`` promises.

    flock on a network file system may not exclude processes on other hosts; any lock on an NFS
    mount with ``nocto`` lets another host read stale data after taking the lock. Returns the
    warning's text, or None.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if directory in _checked and mountinfo is None:
        return None
    _checked.add(directory)
    point, fstype, options = mount_of(Path(path), mountinfo)
    if fstype not in NETWORK_TYPES:
        return None
    if "nocto" in options:
        text = (f"{path} is on {fstype} mounted with nocto ({point}): hosts do not see each "
                "other's writes after taking the lock; mount it without nocto")  # fmt: skip
    elif kind == "flock":
        local = "local_lock=flock" in options or "local_lock=all" in options
        reach = "stays on this host (local_lock)" if local else "may not reach other hosts"
        text = (f"{path} is on a {fstype} file system ({point}), where flock {reach}: processes "
                "on other hosts need lock='redis://host:port/db' (see docs/hdf5.md)")  # fmt: skip
    else:
        return None
    warnings.warn(text, NetworkFileSystemWarning, stacklevel=4)
    return text
