"""Multi-process runs of the command line: joining the run, reading a shard's scan, the error of a broken run.

``ptychopinn train`` and ``reconstruct`` call :func:`join_run` first (the backends accept a distributed runtime only
before they compute anything). A run that breaks (a process that died, a collective that timed out, an error on
one process) ends every process at once with :func:`failed_run`'s one-line error: nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Tuple

from .inputs import UserError, as_amplitudes, counts_warning_silenced, naming

__all__ = ["failed_run", "join_run", "open_rows"]


def join_run(
    coordinator: Optional[str] = None,
    num_processes: Optional[int] = None,
    process_id: Optional[int] = None,
    timeout: Optional[float] = None,
) -> Any:
    """Join a multi-process run given by these values or the launcher's environment; None for a single process.

    Call before the backend computes anything. Errors (an incomplete description, peers that never join) are
    :class:`UserError`."""
    from ptycho_core.cluster import ClusterError, detect_cluster

    try:
        cluster = detect_cluster(
            coordinator=coordinator, num_processes=num_processes, process_id=process_id, timeout_s=timeout
        )
    except ClusterError as exc:
        raise UserError(str(exc)) from exc
    if cluster is None:
        return None
    from ptycho_core.distributed import initialize

    try:
        return initialize(cluster)
    except Exception as exc:  # the runtime's own error: timeout, refused connection, bad TF_CONFIG
        raise UserError(
            f"process {cluster.process_id} of {cluster.num_processes} could not join the run at "
            f"{cluster.coordinator} within {cluster.timeout_s:g} s ({_first_line(exc)}); start every process "
            "with the same --coordinator and --num-processes, or raise --timeout"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


def failed_run(session: Any, what: str, exc: BaseException, kept: str) -> UserError:
    """The error of a multi-process run that broke (here, or a peer that stopped: the runtime's error then says
    so); ``abandon_run``: the process should exit at once, since the runtimes' teardown (JAX's shutdown barrier,
    gloo's threads) would wait for the others, and the others' collectives fail or time out without it."""
    error = UserError(
        f"{what} failed on process {session.process_id} of {session.num_processes}: {_first_line(exc)}; nothing "
        f"was written{kept} (if another process stopped or could not be reached, its output names the cause)"
    )
    error.abandon_run = True  # type: ignore[attr-defined]
    return error


def open_rows(path: Path, diffraction: str, gridsize: int) -> Tuple[Any, Any]:
    """``(scan, reader)``: the scan's header with its patterns as rows on disk, checked as the streamed
    reconstruction checks them (values are checked as rows are read); close ``reader`` after use."""
    from ptycho_core.data import open_diffraction, read_scan

    if not path.is_file():
        raise UserError(f"data file not found: {path}")
    try:
        header = read_scan(path, load_diffraction=False)
        reader = open_diffraction(path)
        try:
            scan = as_amplitudes(header.replace(diffraction=reader), path, diffraction)
            with counts_warning_silenced(diffraction != "auto"):
                scan.validate(gridsize=gridsize)
        except BaseException:
            reader.close()
            raise
    except (KeyError, ValueError) as exc:
        raise UserError(naming(path, exc)) from exc
    return scan, reader
