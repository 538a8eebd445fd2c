"""A parameter exploration: a 3 x 3 grid run by 2 worker processes, one run failing, resumed.

python examples/experiment_example.py [DIRECTORY]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ataraxis_like.experiment import Experiment, ExperimentResults, cartesian_product


def train(run: Any) -> dict[str, Any]:
    """One run: its parameters are attributes of ``run``; it logs, records steps and returns."""
    run.logger.info("training with rate=%s depth=%s", run.rate, run.depth)
    loss = 1.0
    for step in range(5):
        loss *= 1 - run.rate
        run.recorder.push(step=step, loss=loss)
    if run.rate == 0.5 and run.depth == 3:
        raise ValueError("diverged")
    return {"final_loss": loss, "weights": np.full(run.depth, run.rate)}


def main() -> None:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "grid"
    experiment = Experiment(
        "example", directory, defaults={"rate": 0.1, "depth": 1, "epochs": 5},
        exploration=cartesian_product(rate=[0.1, 0.2, 0.5], depth=[1, 2, 3]),
    )  # fmt: skip
    print("first run:", experiment.run(train, processes=2))
    print("run again:", experiment.run(train, processes=2))

    results = ExperimentResults.load(directory)
    print("statuses:", results.counts())
    for row in results.overview():
        error = row["error"].strip().splitlines()[-1] if row["error"] else ""
        parameters = f"rate={row['rate']} depth={row['depth']}"
        print(f"  run {row['index']}: {parameters} {row['status']} {error}".rstrip())
    indices, losses = results.results("final_loss")
    best = int(indices[np.argmin(losses)])
    print(f"best run: {best} with final_loss {losses.min():.4f}")
    steps = [round(record["loss"], 4) for record in results.recorder(best).records]
    print(f"its recorded losses: {steps}")
    print(f"everything is in {directory}")


if __name__ == "__main__":
    main()
