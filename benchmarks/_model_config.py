"""What the model benchmark measures and against what: configurations, sizes, the original's figures, targets.

A configuration is ``(gridsize, batch, N)`` (:data:`Config`), written ``GxB[@N]`` on the command line
(:func:`parse_configs`, :func:`format_configs`) and labelled ``gs1 b16`` in records (:func:`config_label`);
:class:`Sizes` holds every size of one run (:data:`FULL`, :data:`QUICK`). The original PtychoPINN's figures and
the issue's targets are the numbers the report compares with. Importing this module does not import Keras.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Dict, Sequence, Tuple

#: Original PtychoPINN (TF) patterns/s on the issue's machine kind, keyed by (measurement, gridsize, batch).
REFERENCE_PATTERNS_S: Dict[Tuple[str, int, int], float] = {
    ("train", 1, 16): 9.25,
    ("train", 2, 8): 36.7,
    ("predict", 1, 16): 52.0,
}
#: The original's convolution GFLOP per pattern, keyed by (pass, gridsize): "fwd+bwd" or "fwd".
REFERENCE_CONV_GFLOP: Dict[Tuple[str, int], float] = {("fwd+bwd", 1): 4.83, ("fwd+bwd", 2): 1.25, ("fwd", 1): 1.61}
#: float32 matmul peak of the issue's machine kind (GFLOP/s).
REFERENCE_MATMUL_GFLOPS = 140.0
#: Issue targets, as speed-ups over the original.
TARGET_TRAIN_BEST = 1.5
TARGET_TRAIN_TORCH = 1.2
TARGET_PREDICT_BEST = 1.3
#: Forward + backward convolution FLOPs as a multiple of forward (input and weight gradients ≈ 2 × forward).
BACKWARD_FACTOR = 3


#: One measured configuration: ``(gridsize, batch, N)``.
Config = Tuple[int, int, int]
DEFAULT_N = 64


def config_label(gridsize: int, batch: int, n: int) -> str:
    """Record size label: ``gs1 b16`` at the default ``N=64`` (the original's figures), else ``N128 gs1 b16``."""
    return f"gs{gridsize} b{batch}" if n == DEFAULT_N else f"N{n} gs{gridsize} b{batch}"


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of one run.

    Attributes:
        n_filters_scale: ``ModelSpec.n_filters_scale``.
        train: ``(gridsize, batch, N)`` training configurations (``N`` the patch size).
        train_steps: train steps per ``fit`` call.
        predict: ``(gridsize, batch, N)`` inference configurations.
        predict_batches: batches per ``predict`` call.
        repeat_s: target duration of one repeat (seconds); calls per repeat follow from it (at least 1).
        matmul: side of the square float32 matmul that measures the peak.
    """

    n_filters_scale: int = 2
    train: Tuple[Config, ...] = ((1, 16, 64), (2, 16, 64), (2, 8, 64), (1, 16, 128), (2, 8, 128))
    train_steps: int = 4
    predict: Tuple[Config, ...] = ((1, 16, 64), (1, 64, 64), (1, 256, 64))
    predict_batches: int = 2
    repeat_s: float = 8.0
    matmul: int = 2048


FULL = Sizes()
QUICK = Sizes(train=((2, 2, 64),), train_steps=1, predict=((1, 4, 64),), predict_batches=1, repeat_s=0.05, matmul=512)


def parse_configs(text: str) -> Tuple[Config, ...]:
    """``"1x16,2x8@128"`` → ``((1, 16, 64), (2, 8, 128))`` (gridsize x batch [@N], N 64 when omitted);
    ``"none"`` → ``()``."""
    if text.strip().lower() == "none":
        return ()
    configs = []
    for item in text.split(","):
        head, at, n = item.strip().partition("@")
        gridsize, _, batch = head.partition("x")
        n = n if at else str(DEFAULT_N)
        if not all(v.isdigit() and int(v) >= 1 for v in (gridsize, batch, n)):
            raise argparse.ArgumentTypeError(
                f"expected GRIDSIZExBATCH[@N] items like 1x16 or 1x16@128, or none; got {item!r}"
            )
        configs.append((int(gridsize), int(batch), int(n)))
    return tuple(configs)


def format_configs(configs: Sequence[Config]) -> str:
    """Inverse of :func:`parse_configs`."""
    return ",".join(f"{g}x{b}" + ("" if n == DEFAULT_N else f"@{n}") for g, b, n in configs) or "none"
