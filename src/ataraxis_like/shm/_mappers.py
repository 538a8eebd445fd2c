"""Which processes map a file right now, read from ``/proc/<pid>/maps``.

Used before a name is taken over (``create_array(exist_ok=True)``): removing a segment that a
live process still maps would cut that process off without telling it. A mapping is matched by
device and inode, so an unlinked older segment of the same name is not mistaken for the current
one. Processes whose maps we may not read (another user's, when we are not root) are not seen;
segments are created with mode 0600, so only their own user and root can map them.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path


def mapping_pids(path: Path, exclude: Collection[int] = ()) -> list[int]:
    """The pids (sorted, without ``exclude``) of processes that map the file at ``path``."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return []
    device = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}".encode()
    inode = str(status.st_ino).encode()
    needle = os.fsencode(path)
    found: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            with open(f"/proc/{entry.name}/maps", "rb") as maps:
                text = maps.read()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if needle in text and _maps_file(text, needle, device, inode):
            found.append(int(entry.name))
    return sorted(found)


def _maps_file(text: bytes, needle: bytes, device: bytes, inode: bytes) -> bool:
    for line in text.splitlines():
        if needle not in line:
            continue
        fields = line.split(maxsplit=5)  # address, perms, offset, device, inode, path
        if len(fields) == 6 and fields[3] == device and fields[4] == inode:
            return True
    return False
