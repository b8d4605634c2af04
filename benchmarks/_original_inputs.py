"""The model benchmark's inputs written to files for the original PtychoPINN's worker (which cannot import us).

``python -m benchmarks._original_inputs --out-dir DIR --train 1x16 --predict 1x16 --train-steps 4
--predict-batches 2`` runs under one Keras backend (the parent sets ``KERAS_BACKEND``; the simulation uses
``ptycho_core.physics``) and writes, for each configuration, ``DIR/<measurement>_<G>x<B>@<N>.npz`` holding
``probe`` (complex64 ``(N, N, 1)``), ``x`` (``X·s``, float32 ``(n, N, N, C)``) and ``positions`` (float32
``(n, 1, 2, C)``): exactly the arrays our workers measure on (:func:`benchmarks._model_data.measurement_inputs`).
``DIR/plan.json`` lists the files with what the original's worker needs beside them (the intensity scale
``s`` of ``ModelSpec`` for that ``N``, photons per pattern, ``n_filters_scale``). Nothing is timed here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ._model_config import Config, config_label, format_configs, parse_configs

PLAN_FILE = "plan.json"


def write_inputs(
    out_dir: Path,
    train: Sequence[Config],
    predict: Sequence[Config],
    train_steps: int,
    predict_batches: int,
    n_filters_scale: int,
) -> List[Dict[str, Any]]:
    """Write one ``.npz`` per configuration and ``plan.json`` into ``out_dir``; returns the plan entries."""
    from ptycho_core.physics import intensity_scale

    from ._model_data import NPHOTONS, measurement_inputs

    out_dir.mkdir(parents=True, exist_ok=True)
    plan = []
    cases = [("train", c, train_steps) for c in train] + [("predict", c, predict_batches) for c in predict]
    for measurement, (gridsize, batch, n), calls in cases:
        probe, x, positions = measurement_inputs(measurement, gridsize, batch, n, calls)
        path = out_dir / f"{measurement}_{format_configs([(gridsize, batch, n)])}.npz"
        np.savez(path, probe=probe, x=x, positions=positions)
        plan.append(
            {
                "measurement": measurement,
                "gridsize": gridsize,
                "batch": batch,
                "n": n,
                "size": config_label(gridsize, batch, n),
                "calls": calls,
                "inputs": str(path),
                "intensity_scale": float(intensity_scale(NPHOTONS, n)),
                "nphotons": NPHOTONS,
                "n_filters_scale": n_filters_scale,
            }
        )
    (out_dir / PLAN_FILE).write_text(json.dumps(plan, indent=1))
    return plan


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._original_inputs", description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--train", type=parse_configs, default=())
    parser.add_argument("--predict", type=parse_configs, default=())
    parser.add_argument("--train-steps", type=int, required=True)
    parser.add_argument("--predict-batches", type=int, required=True)
    parser.add_argument("--n-filters-scale", type=int, required=True)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    write_inputs(
        Path(args.out_dir), args.train, args.predict, args.train_steps, args.predict_batches, args.n_filters_scale
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
