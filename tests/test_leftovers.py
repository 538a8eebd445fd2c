"""The per-module check (tests/support/leftovers.py) does catch what a module leaves behind."""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

import psutil
import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[1]

LEAKS = {
    "test_segment_leak.py": """
        from ataraxis_like import SharedMemoryArray
        KEPT = []
        def test_leaks_a_segment():
            KEPT.append(SharedMemoryArray.create_array("leftover_check_kept", [1]))
    """,
    "test_process_leak.py": """
        import subprocess
        def test_leaks_a_process():
            subprocess.Popen(["sleep", "300"])
    """,
    "test_killed_child_leak.py": """
        import signal, subprocess, sys
        CHILD = "\\n".join([
            "import ctypes, os, sys, time",
            "from ataraxis_like import SharedMemoryArray",
            "SharedMemoryArray.create_array('leftover_check_orphan', [1])",
            "pid = ctypes.CDLL(None).fork()",  # raw: the grandchild keeps the lifetime lock
            "if pid == 0:",
            "    time.sleep(300)",
            "    os._exit(0)",
            "open(sys.argv[1], 'w').write(str(pid))",
            "os.kill(os.getpid(), 9)",
        ])
        def test_child_killed_while_its_grandchild_keeps_the_segment_alive(tmp_path):
            pid_file = tmp_path.parent / "grandchild.pid"
            child = subprocess.run([sys.executable, "-c", CHILD, str(pid_file)])
            assert child.returncode == -signal.SIGKILL
    """,
    "test_semaphore_leak.py": """
        import subprocess, sys
        CHILD = "\\n".join([
            "import _multiprocessing",  # a named semaphore, left for a tracker that never comes
            "_multiprocessing.SemLock(1, 1, 1, '/mp-leftoverchk', False)",
        ])
        def test_a_killed_pool_leaves_a_semaphore():
            subprocess.run([sys.executable, "-c", CHILD], check=True)
    """,
    "test_thread_leak.py": """
        import threading
        def test_leaves_a_thread_running():
            never = threading.Event()
            threading.Thread(target=never.wait, name="leftover-check-thread", daemon=True).start()
    """,
    "test_semaphore_removed_meanwhile.py": """
        import os, subprocess, sys, threading
        CHILD = "_multiprocessing.SemLock(1, 1, 1, '/mp-leftoverok', False)"
        def test_another_worker_removes_its_killed_groups_semaphore_a_moment_later():
            subprocess.run([sys.executable, "-c", "import _multiprocessing; " + CHILD], check=True)
            remover = threading.Timer(0.5, os.unlink, ["/dev/shm/sem.mp-leftoverok"])
            remover.start()  # as kill_group does in another xdist worker, once its group died
    """,
}


def test_the_check_reports_each_leak_and_removes_it(pytester: pytest.Pytester) -> None:
    for name, code in LEAKS.items():
        pytester.makepyfile(**{name[:-3]: textwrap.dedent(code)})
    environment = {"PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    for key, value in environment.items():
        pytester._monkeypatch.setenv(key, value)
    try:
        result = pytester.runpytest_subprocess("-p", "tests.support.leftovers", "-p",
                                               "no:cacheprovider", "-q")  # fmt: skip
    finally:
        for found in Path(pytester.path).rglob("grandchild.pid"):
            pid = int(found.read_text() or 0)
            if pid and psutil.pid_exists(pid):
                os.kill(pid, signal.SIGKILL)
    output = result.stdout.str()
    assert result.ret == 1, output
    assert "segments left behind: leftover_check_kept (array, live" in output
    assert "child processes still running:" in output
    assert "'sleep 300'" in output
    assert "segments left behind: leftover_check_orphan (array, live" in output
    assert "semaphores no process maps: sem.mp-leftoverchk" in output
    assert "threads still running: leftover-check-thread" in output
    assert "leftoverok" not in output  # removed within the grace: not this module's leak
    assert result.parseoutcomes() == {"passed": 6, "errors": 5}
    assert not Path("/dev/shm/sem.mp-leftoverchk").exists()
    assert not Path("/dev/shm/sem.mp-leftoverok").exists()
    for name in ("leftover_check_kept", "leftover_check_orphan"):
        assert not Path(f"/dev/shm/atxl_{name}").exists()
