"""``ataraxis-like inspect``: every kind of path, JSON, plots, and the exit codes of mistakes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.cli import main
from ataraxis_like.config import YamlConfig
from ataraxis_like.experiment import Experiment, zipped
from ataraxis_like.hdf5 import Hdf5Sink
from ataraxis_like.logs.plot import rate_over_time
from tests.experiment import functions
from tests.logs import Entry, write_batch

pytestmark = pytest.mark.timeout(90)


def cli(*arguments: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = (
        f"{prelude}\nimport sys\nfrom ataraxis_like.cli import main\nsys.exit(main(sys.argv[1:]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *arguments],
        capture_output=True, text=True, timeout=80, check=False,
    )  # fmt: skip


def one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("ataraxis-like")
    return result.stderr


def killed_sink_file(path: Path) -> None:
    """A file whose SWMR writer flushed rows and attributes, then was SIGKILLed."""
    code = textwrap.dedent(f"""
        import os, signal, numpy as np
        from ataraxis_like.hdf5 import Hdf5Sink
        sink = Hdf5Sink({str(path)!r}, "a")
        for i in range(1000):
            sink.append("camera/stats", np.array([i, 2 * i], dtype=np.int32))
        sink.set_attrs("camera/stats", units="px")
        sink.append("notes", "hello")
        sink.write("calibration", np.eye(3))
        sink.set_attrs("/", subject="m1")
        sink.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", code], check=False, timeout=60)
    assert done.returncode == -signal.SIGKILL


def test_hdf5_left_open_by_killed_writer_then_recovered(tmp_path: Path) -> None:
    path = tmp_path / "session.h5"
    killed_sink_file(path)
    found = cli("inspect", str(path), "--json")
    assert found.returncode == 1, found.stderr  # a problem: the file needs recovery
    report = json.loads(found.stdout)
    assert report["kind"] == "hdf5"
    assert report["state"] == "left open by a killed writer"
    assert f"ataraxis-like recover {path}" in report["problems"]["writer"]
    rows = {row["key"]: row for row in report["datasets"]}
    assert rows["camera/stats"] == {
        "key": "camera/stats", "kind": "rows", "rows": 1000, "shape": [1000, 2],
        "dtype": "int32", "attributes": {"units": "px"},
    }  # fmt: skip
    assert rows["notes"]["dtype"] == "str"
    assert rows["notes"]["rows"] == 1
    assert rows["calibration"]["kind"] == "array"
    assert rows["calibration"]["rows"] is None
    assert report["file_attributes"] == {"subject": "m1"}
    assert not any(key.startswith("__sink__") for key in rows)

    assert cli("recover", str(path)).returncode == 0
    clean = cli("inspect", str(path))
    assert clean.returncode == 0, clean.stderr
    assert "3 dataset(s); closed cleanly" in clean.stdout
    assert "camera/stats" in clean.stdout
    assert "units=px" in clean.stdout


def test_hdf5_with_live_writer_is_no_problem(tmp_path: Path) -> None:
    path = tmp_path / "live.h5"
    with Hdf5Sink(path, "a") as sink:
        sink.extend("t", np.arange(10.0))
        sink.flush()
        live = cli("inspect", str(path), "--json")
    assert live.returncode == 0, live.stderr
    report = json.loads(live.stdout)
    assert report["state"].startswith("open for writing by live pid")
    assert report["datasets"][0]["rows"] == 10


@dataclass
class Camera(YamlConfig):
    fps: float = 30.0
    name: str = "left"


@dataclass
class Rig(YamlConfig):
    camera: Camera = field(default_factory=Camera)
    trials: list[int] = field(default_factory=lambda: [1, 2])
    output: Path = Path("data/run")


def test_yaml_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rig.yaml"
    Rig().to_yaml(path)
    assert main(["inspect", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "config"
    assert report["document"] == {
        "camera": {"fps": 30.0, "name": "left"}, "trials": [1, 2], "output": "data/run",
    }  # fmt: skip
    values = {row["key"]: row for row in report["values"]}
    assert values["camera.fps"]["type"] == "float"
    lines = path.read_text().splitlines()
    assert lines[values["camera.fps"]["line"] - 1].strip() == "fps: 30.0"
    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert "3 top-level key(s), 4 value(s)" in text
    assert "trials" in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: !!python/object/apply:os.system ['true']\n", "plain YAML without tags"),
        ("a: [1, 2\n", "valid YAML"),
        ("- 1\n- 2\n", "expected a YAML mapping"),
        ("a: 1\na: 2\n", "each key once"),
    ],
)
def test_yaml_mistakes_are_one_line_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(text)
    assert main(["inspect", str(path)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_experiment_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    experiment = Experiment("grid", tmp_path, defaults={"x": 0, "y": 0},
                            exploration=zipped(x=[0, 1, 2], y=[1, 2, 3]))  # fmt: skip
    assert experiment.run(functions.simulate) == {"completed": 2, "failed": 1, "skipped": 0}
    assert main(["inspect", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "experiment"
    assert report["name"] == "grid"
    assert report["counts"] == {"completed": 2, "failed": 1}
    assert [(row["index"], row["x"], row["y"], row["status"]) for row in report["runs"]] == [
        (0, 0, 1, "completed"), (1, 1, 2, "failed"), (2, 2, 3, "completed"),
    ]  # fmt: skip
    assert "do not converge" in report["runs"][1]["error"]
    assert len(report["sessions"]) == 1
    assert main(["inspect", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "3 run(s): 2 completed, 1 failed" in text
    assert "ValueError: x=1 and y=2 do not converge" in text


def test_unknown_and_missing_paths_exit_3(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    err = one_error_line(cli("inspect", str(tmp_path / "notes.txt")), 3)
    assert "neither a log archive (.npz), an HDF5 file nor a YAML config" in err
    err = one_error_line(cli("inspect", str(tmp_path / "none.h5")), 3)
    assert "does not exist" in err


def log_directory(path: Path) -> Path:
    """Source 1 at 1 kHz for 2 s; source 2 every 7 ms, then every 3 ms."""
    path.mkdir()
    ones = [Entry(1, n * 1000, b"x", 0, n) for n in range(2000)]
    stamps = [n * 7000 for n in range(100)] + [700_000 + n * 3000 for n in range(100)]
    twos = [Entry(2, stamp, b"y", 0, 5000 + n) for n, stamp in enumerate(stamps)]
    write_batch(path, ones + twos, 1_700_000_000_000_000, 0)
    return path


def test_plot_of_logs(tmp_path: Path) -> None:
    directory = log_directory(tmp_path / "logs")
    out = tmp_path / "timing.png"
    done = cli("inspect", str(directory), "--plot", str(out), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["plot"] == str(out)
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert out.stat().st_size > 10_000

    centres, rates = rate_over_time(np.arange(2000, dtype=np.uint64) * 1000)
    assert centres[0] == pytest.approx(0.01)  # bins of 20 typical intervals
    assert rates[:-1] == pytest.approx(np.full(rates.size - 1, 1000.0))


def test_plot_refusals(tmp_path: Path) -> None:
    directory = log_directory(tmp_path / "logs")
    no_matplotlib = "import sys; sys.modules['matplotlib'] = None"
    done = cli("inspect", str(directory), "--plot", str(tmp_path / "a.png"), prelude=no_matplotlib)
    err = one_error_line(done, 3)
    assert "pip install 'ataraxis-like[plot]'" in err
    assert not (tmp_path / "a.png").exists()

    (tmp_path / "c.yaml").write_text("a: 1\n")
    err = one_error_line(cli("inspect", str(tmp_path / "c.yaml"), "--plot", "x.png"), 2)
    assert "--plot draws logs only" in err
