"""Every code block of the pypet Environment documentation (shared/seeds/
pypet-environment-docs.txt), ported in our words, run against ``ataraxis_like.compat.pypet``
with only the import changed. Blocks are named by their line in the document."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ataraxis_like.compat.pypet import (
    Environment,
    PypetCompatError,
    cartesian_product,
    pypetconstants,
)
from ataraxis_like.experiment import ExperimentResults

from . import pypet_jobs

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")  # the blocks write to ./hdf5 and ../


def explore_xy(env: Environment) -> None:
    traj = env.v_trajectory
    traj.f_add_parameter("x", 1.0, comment="Im the first dimension!")
    traj.f_add_parameter("y", 1.0, comment="Im the second dimension!")
    traj.f_explore(cartesian_product({"x": [1.0, 2.0, 3.0], "y": [6.0, 7.0]}))


def test_line_37_an_environment_with_every_documented_argument() -> None:
    env = Environment(trajectory='trajectory',
                 add_time=True,
                 comment='',
                 dynamically_imported_classes=None,
                 log_folder=None,
                 multiproc=False,
                 ncores=1,
                 wrap_mode=pypetconstants.WRAP_MODE_LOCK,
                 continuable=1,
                 use_hdf5=True,
                 filename=None,
                 file_title=None,
                 purge_duplicate_comments=True,
                 summary_tables=True,
                 small_overview_tables=True,
                 large_overview_tables=True,
                 results_per_run=0,
                 derived_parameters_per_run=0,
                 git_repository = None,
                 git_message='')  # fmt: skip
    assert env.v_trajectory.v_name.startswith("trajectory_20")  # add_time
    explore_xy(env)
    assert len(env.v_trajectory) == 6
    assert env.f_run(pypet_jobs.multiply) == [(index, None) for index in range(6)]
    folder = Path("hdf5") / env.v_trajectory.v_name
    loaded = ExperimentResults.load(folder)
    assert loaded.results("z")[1].tolist() == [6.0, 7.0, 12.0, 14.0, 18.0, 21.0]
    assert loaded.explored_parameters().x.tolist() == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
    assert env.v_trajectory.f_get_from_runs("z")["run_00000005"] == 21.0
    with ExperimentResults.load(folder)._source.path.open("rb"):
        pass  # the file is where the documented default puts it
    assert (folder / "results.h5").exists()


def test_line_178_a_custom_storage_service_is_refused() -> None:
    """Deliberately different: results always go to our HDF5 file through one writer."""

    class MyCustomService:
        pass

    env = Environment()
    with pytest.raises(PypetCompatError, match="custom storage services"):
        env.v_trajectory.v_storage_service = MyCustomService()
    with pytest.raises(PypetCompatError, match="use_hdf5=False"):
        Environment(use_hdf5=False)


def test_line_418_four_cores_a_pool_and_a_queue() -> None:
    """The block passes ``self`` first (it was written inside a class): pypet refuses that
    too, so it runs with that word removed."""
    with pytest.raises(TypeError, match="multiple values for argument 'trajectory'"):
        Environment(object(), trajectory="trajectory")  # type: ignore[misc]
    env = Environment(trajectory='trajectory',
                 comment='',
                 dynamically_imported_classes=None,
                 log_folder='../log/',
                 use_hdf5=True,
                 filename='../experiments.h5',
                 file_title='experiment',
                 multiproc=True,
                 ncores=4,
                 use_pool=True,
                 wrap_mode='QUEUE')  # fmt: skip
    explore_xy(env)
    env.f_run(pypet_jobs.multiply)
    folder = Path("..") / "experiments"
    loaded = ExperimentResults.load(folder)
    assert loaded.counts() == {"completed": 6}
    assert loaded.results("z")[1].tolist() == [6.0, 7.0, 12.0, 14.0, 18.0, 21.0]
    assert os.getpid() not in loaded._source.table["pid"].tolist(), "not run by workers"


def test_lines_517_and_528_a_job_with_arguments_through_f_run() -> None:
    """Line 517 defines ``myjobfunc(traj,*args,**kwargs)`` (the document drops the colon and
    body: ours has both); line 528 runs it with ``env.f_run(myjobfunc, *args, **kwargs)``."""
    myjobfunc = pypet_jobs.myjobfunc
    args, kwargs = (3,), {"shift": 0.5}
    env = Environment(trajectory="jobs", add_time=False)
    env.v_trajectory.f_add_parameter("sim.x", 1, comment="a dotted name")
    env.v_trajectory.f_explore({"x": [1, 2, 3]})
    returned = env.f_run(myjobfunc, *args, **kwargs)
    assert returned == [(0, 10), (1, 20), (2, 30)]
    loaded = ExperimentResults.load(Path("hdf5") / "jobs")
    assert loaded.results("my_result")[1].tolist() == [3.5, 6.5, 9.5]
    assert loaded.results("summary/high")[1].tolist() == [2, 3, 4]
    assert loaded.overview()["sim.x"].tolist() == [1, 2, 3]


def test_line_561_a_default_environment_resumes_after_a_crash(tmp_path: Path) -> None:
    env = Environment()
    assert env.v_trajectory.v_name.startswith("trajectory_")
    assert str(env._folder()).startswith("hdf5/trajectory_")
    # A crashed f_run (SIGKILL of its whole process), then f_continue_run with the name.
    script = tmp_path / "crash.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from ataraxis_like.compat.pypet import Environment
        from tests.compat import pypet_jobs
        env = Environment(trajectory="crashing", add_time=False, multiproc=True, ncores=2)
        env.v_trajectory.f_add_parameter("x", 0)
        env.v_trajectory.f_explore({{"x": list(range(30))}})
        env.f_run(pypet_jobs.slow_job)
    """)
    )
    process = subprocess.Popen([sys.executable, str(script)], start_new_session=True)
    table = Path("hdf5") / "crashing" / "results.h5"
    deadline = time.monotonic() + 60
    while not done_some(table):
        assert time.monotonic() < deadline, "never got going"
        assert process.poll() is None, "ended before it was killed"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    env = Environment(trajectory="crashing", add_time=False, multiproc=True, ncores=2)
    with pytest.raises(PypetCompatError, match="needs the job function"):
        env.f_continue_run("crashing")
    returned = env.f_continue_run("crashing.cnt", pypet_jobs.slow_job)
    assert [index for index, _ in returned] == list(range(30))
    loaded = ExperimentResults.load(Path("hdf5") / "crashing")
    assert loaded.results("z")[1].tolist() == [2 * x for x in range(30)]
    assert loaded.overview().attempts.tolist() == [1] * 30, "a run was stored twice"


def done_some(path: Path) -> bool:
    from ataraxis_like.hdf5 import open_sink

    try:
        with open_sink(path) as reader:
            runs = reader.file.get("runs")
            return runs is not None and int((runs["status"] == 1).sum()) >= 3
    except (OSError, KeyError, ValueError):
        return False


def test_the_pypet_example_script(tmp_path: Path) -> None:
    from ..support.examples import run_example

    out = run_example("pypet_environment_example.py", str(tmp_path)).stdout
    assert (
        "12 runs, return values of the first three: [(0, False), (1, False), (2, False)]\n" in out
    )
    assert "z of run 11: 32.5\n" in out
    assert "f_run again: 12 runs, none run twice\n" in out
    assert "{'completed': 12}, comment 'the pypet quick start'\n" in out
    assert "results per run: ('index', 'return_value', 'z'), largest z 32.5\n" in out
    assert "attempts per run: [1]\n" in out
