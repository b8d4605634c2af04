"""One process of test_distributed.py's multi-process runs (localhost standing in for nodes).

Usage: ``python distributed_worker.py OUT PROCESS_ID NUM_PROCESSES COORDINATOR DEVICES EPOCHS`` with
``KERAS_BACKEND`` set; ``NUM_PROCESSES`` 1 is the single-process reference. It trains the model of
``parallel_worker.data`` on its shard of the rows (``ptycho_core.distributed``), then reconstructs a small scan
with the trained model, its shard of the groups (``ptycho_core.pipeline.reconstruct(..., session=...)``). Each
process writes its image, ``OUT/image_{PROCESS_ID}.npy``; process 0 also ``OUT/result.json`` (losses) and
``OUT/image_single.npy`` (the same weights' single-process image, in memory).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from parallel_worker import data

SIZE = 64
SPEC = dict(N=SIZE, gridsize=1, n_filters_scale=1, init_seed=3)
BATCH = 8
SAMPLES = 20
VALIDATION = 0.2


def scan_to_reconstruct(path: Path) -> Path:
    """About 16 patterns of the simulated lines object (N=64), the same on every process, written to ``path``."""
    from ptycho_core.simulation import default_dataset

    return default_dataset(seed=1, N=SIZE, n_positions=16).save_npz(path)


def main(out: Path, process_id: int, num_processes: int, coordinator: str, devices: int, epochs: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    start = time.perf_counter()

    def phase(name: str) -> None:
        print(f"PHASE {process_id} {name} {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)

    from ptycho_core.parallel import request_virtual_cpu_devices

    if devices > 1:
        request_virtual_cpu_devices(devices)
    from ptycho_core.cluster import detect_cluster
    from ptycho_core.distributed import initialize, shard_rows, train_sharded

    session = None
    if num_processes > 1:
        cluster = detect_cluster(
            coordinator=coordinator, num_processes=num_processes, process_id=process_id, timeout_s=20.0, env={}
        )
        assert cluster is not None
        session = initialize(cluster)
    phase("joined")
    import numpy as np

    from ptycho_core.data import read_scan
    from ptycho_core.parallel import train_models
    from ptycho_core.pipeline import TrainedModel, reconstruct
    from ptycho_core.spec import ModelSpec

    probe, x, positions, scale = data(SAMPLES, SIZE)
    spec = ModelSpec(intensity_scale=scale, **SPEC)
    if session is None:
        autoencoder, d2o, history = train_models(
            spec,
            probe,
            x,
            positions,
            epochs=epochs,
            batch_size=BATCH,
            devices=devices,
            validation_split=VALIDATION,
            shuffle=False,
        )
    else:
        train_rows, val_rows = shard_rows(
            len(x), batch_size=BATCH, validation_split=VALIDATION, session=session, devices=devices
        )
        rows = np.concatenate([train_rows, val_rows])
        autoencoder, d2o, history = train_sharded(
            session,
            spec,
            probe,
            x[rows],
            positions[rows],
            n_train_local=len(train_rows),
            epochs=epochs,
            batch_size=BATCH,
            devices=devices,
            shuffle=False,
        )
    phase("trained")
    model = TrainedModel(spec, autoencoder, d2o, history)
    path = scan_to_reconstruct(out / f"scan{process_id}.npz")
    # the file, streamed: each process reads only its groups' patterns (a Scan in memory takes the same path)
    options = dict(stream="on", chunk_bytes=6 * SIZE * SIZE * 4, batch_size=4)
    image = reconstruct(model, path, session=session, **options).image
    np.save(out / f"image_{process_id}.npy", image)
    phase("reconstructed")
    if process_id == 0:  # one process, the same weights, in memory
        single = reconstruct(model, read_scan(path), stream="off", batch_size=4).image
        np.save(out / "image_single.npy", single)
        (out / "result.json").write_text(json.dumps({"loss": history["loss"], "val_loss": history.get("val_loss")}))
    phase("done")
    if session is not None:
        session.close()


if __name__ == "__main__":
    a = sys.argv[1:]
    main(Path(a[0]), int(a[1]), int(a[2]), a[3], int(a[4]), int(a[5]))
