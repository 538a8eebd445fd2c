"""The file-system check behind the network file system warnings (docs/hdf5.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ataraxis_like.hdf5 import NetworkFileSystemWarning
from ataraxis_like.hdf5._mounts import check_mount, mount_of

# Lines as /proc/self/mountinfo writes them (fields: id, parent, dev, root, mount point,
# options, optional fields, "-", type, source, super options).
_MOUNTS = """\
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
40 22 0:50 / /mnt/share rw,relatime shared:1 - nfs4 server:/export rw,vers=4.2,hard
41 22 0:51 / /mnt/stale rw,relatime,nocto - nfs server:/old rw,vers=3,nocto
42 22 0:52 / /mnt/local rw,relatime - nfs4 server:/x rw,local_lock=all
43 22 0:53 / /mnt/my\\040data rw - cifs //nas/data rw
"""


def test_the_mount_of_a_path_is_the_longest_mount_point_above_it() -> None:
    assert mount_of(Path("/mnt/share/a/b.h5"), _MOUNTS)[:2] == ("/mnt/share", "nfs4")
    assert mount_of(Path("/mnt/shared.h5"), _MOUNTS)[:2] == ("/", "ext4")
    assert mount_of(Path("/mnt/my data/x.h5"), _MOUNTS)[:2] == ("/mnt/my data", "cifs")
    assert "nocto" in mount_of(Path("/mnt/stale/x.h5"), _MOUNTS)[2]


def test_flock_on_a_network_file_system_warns() -> None:
    with pytest.warns(NetworkFileSystemWarning, match="flock may not reach other hosts"):
        assert check_mount(Path("/mnt/share/x.h5"), "flock", _MOUNTS)
    with pytest.warns(NetworkFileSystemWarning, match=r"stays on this host \(local_lock\)"):
        check_mount(Path("/mnt/local/x.h5"), "flock", _MOUNTS)
    with pytest.warns(NetworkFileSystemWarning, match="nocto"):
        check_mount(Path("/mnt/stale/x.h5"), "redis", _MOUNTS)
    assert check_mount(Path("/mnt/share/x.h5"), "redis", _MOUNTS) is None
    assert check_mount(Path("/data/x.h5"), "flock", _MOUNTS) is None


def test_a_local_file_gives_no_warning(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    from ataraxis_like.hdf5 import locked_file

    with locked_file(tmp_path / "x.h5", "a"):
        pass
    assert not [w for w in recwarn if issubclass(w.category, NetworkFileSystemWarning)]
    assert check_mount(tmp_path / "y.h5", "flock", Path("/proc/self/mountinfo").read_text()) is None
