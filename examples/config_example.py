"""YamlConfig in one page: save a run config, edit it by hand, load it back, catch mistakes.

Run it with ``python examples/config_example.py``; it works in a temporary directory and prints
what it did.
"""

from __future__ import annotations

import enum
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ataraxis_like.config import ConfigError, YamlConfig


class Trigger(enum.StrEnum):
    INTERNAL = "internal"
    EXTERNAL = "external"


@dataclass
class Camera:
    fps: int = field(default=30, metadata={"doc": "Frames per second."})
    exposure_ms: float = 5.0
    trigger: Trigger = Trigger.INTERNAL


@dataclass
class Session(YamlConfig):
    animal: str = field(default="yes", metadata={"doc": "Animal ID as on the cage card."})
    output: Path = Path("/data/sessions")
    camera: Camera = field(default_factory=Camera)
    lick_thresholds: npt.NDArray[np.float32] = field(
        default_factory=lambda: np.array([0.25, 0.5], dtype=np.float32)
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "session.yaml"
        Session().to_yaml(path)
        print(f"saved {path.name}:")
        print(path.read_text())

        loaded = Session.from_yaml(path, overrides=["camera.fps=60", "output=/data/today"])
        print(f"loaded with overrides: fps={loaded.camera.fps}, output={loaded.output}")
        print(f"animal is still the string {loaded.animal!r}")

        edited = path.read_text().replace("fps: 30", 'fps: "30"')
        edited = edited.replace("trigger: internal", "trigger: INTERNAL")
        path.write_text(edited + "exposure_ms: 3\n")
        try:
            Session.from_yaml(path)
        except ConfigError as error:
            print("a hand edit went wrong, and the error says where:")
            print(error)


if __name__ == "__main__":
    main()
