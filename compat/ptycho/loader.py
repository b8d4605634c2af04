"""The original ``ptycho.loader``: grouped scan data → :class:`PtychoDataContainer` (model-ready arrays).

``load(cb, probeGuess, which, create_split)`` takes the dictionary of ``RawData.generate_grouped_data`` (from a
callback) and returns a container whose arrays are NumPy on the host:

* ``X`` float32 ``(B, N, N, C)`` normalised diffraction amplitudes (the model's first input is
  ``X · intensity_scale``);
* ``coords_nominal`` = ``coords_true`` = ``coords`` float32 ``(B, 1, 2, C)``: the ``coords_start_relative``
  offsets (``group_centre - position``), the model's position input;
* ``local_offsets`` float64 ``(B, 1, 2, C)`` (``coords_relative``) and ``global_offsets`` float64
  ``(B, 1, 2, 1)`` (``coords_offsets``, the group centres used for stitching);
* ``Y_I``/``Y_phi`` float32 and ``Y`` complex64 ``(B, N, N, C)`` ground truth (ones/zeros without one);
* ``probe`` complex64 ``(N, N)``.

Importing this module also binds ``ptycho.probe`` and ``ptycho.tf_helper`` on the package.

Differences from the original (host arrays, ``PyDataset`` batches, the split of the offsets): README.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

import numpy as np

from ptycho_core import physics as core
from ptycho_core.data import TrainingBatches
from ptycho_core.physics.scaling import energy_factor

from . import params
from . import probe as _probe
from . import tf_helper as hh
from ._host import HostArray, host, to_numpy
from .loader_helpers import crop, get_gt_patch, load_xpp_npz, normalize_data
from .raw_data import RawData, _as_probe_2d, key_coords_offsets, key_coords_relative

logger = logging.getLogger(__name__)
_BOUND_SUBMODULES = (_probe, hh)  # imported for their side effect: ptycho.probe / ptycho.tf_helper exist

__all__ = [
    "PtychoDataset",
    "PtychoDataContainer",
    "ContainerBatches",
    "load",
    "split_data",
    "split_tensor",
    "normalize_data",
    "crop",
    "get_gt_patch",
    "load_xpp_npz",
    "RawData",
    "key_coords_offsets",
    "key_coords_relative",
]


class PtychoDataset:
    """A ``(train_data, test_data)`` pair of containers."""

    def __init__(self, train_data, test_data):
        self.train_data = train_data
        self.test_data = test_data


def _host_or_none(x: Any) -> Any:
    if x is None or isinstance(x, np.ndarray):
        return x
    return to_numpy(x)


class PtychoDataContainer:
    """Model-ready arrays of one dataset (NumPy, host memory).

    Args:
        X: ``(B, N, N, C)`` normalised diffraction amplitudes.
        Y_I, Y_phi: ``(B, N, N, C)`` ground-truth amplitude and phase.
        norm_Y_I: scale factor (stored as given).
        YY_full: full ground-truth object or None (stored as given).
        coords_nominal, coords_true: ``(B, 1, 2, C)`` position offsets (model input).
        nn_indices: ``(B, C)`` scan-point indices of the groups.
        global_offsets: ``(B, 1, 2, 1)`` group centres (stitching), stored as given.
        local_offsets: ``(B, 1, 2, C)`` relative offsets, stored as given.
        probeGuess: ``(N, N)`` probe (a mode stack keeps mode 0).

    Backend tensors are converted to NumPy; NumPy inputs are kept as given in ``_X_np``, ``_Y_I_np``,
    ``_Y_phi_np``, ``_coords_nominal_np``, ``_coords_true_np`` and ``_probe_np``. The properties ``X``, ``Y_I``,
    ``Y_phi`` (float32), ``Y`` (complex64), ``coords_nominal``/``coords``/``coords_true`` (float32) and
    ``probe`` (complex64) convert on first access and return the same cached array afterwards.
    """

    def __init__(
        self,
        X,
        Y_I,
        Y_phi,
        norm_Y_I,
        YY_full,
        coords_nominal,
        coords_true,
        nn_indices,
        global_offsets,
        local_offsets,
        probeGuess,
    ):
        self._X_np = _host_or_none(X)
        self._Y_I_np = _host_or_none(Y_I)
        self._Y_phi_np = _host_or_none(Y_phi)
        self._coords_nominal_np = _host_or_none(coords_nominal)
        self._coords_true_np = _host_or_none(coords_true)
        self._probe_np = _as_probe_2d(_host_or_none(probeGuess), "probeGuess")
        self._tensor_cache: dict = {}

        self.norm_Y_I = norm_Y_I
        self.YY_full = YY_full
        self.nn_indices = nn_indices
        self.global_offsets = global_offsets
        self.local_offsets = local_offsets

    def _cached(self, name: str, source: Optional[np.ndarray], dtype: Any) -> Optional[HostArray]:
        if name not in self._tensor_cache:
            self._tensor_cache[name] = None if source is None else host(source, dtype)
        return self._tensor_cache[name]

    @property
    def X(self) -> HostArray:
        """Diffraction amplitudes, float32 ``(B, N, N, C)``."""
        return self._cached("X", self._X_np, np.float32)

    @property
    def Y_I(self) -> HostArray:
        """Ground-truth amplitude, float32 ``(B, N, N, C)``."""
        return self._cached("Y_I", self._Y_I_np, np.float32)

    @property
    def Y_phi(self) -> HostArray:
        """Ground-truth phase (radians), float32 ``(B, N, N, C)``."""
        return self._cached("Y_phi", self._Y_phi_np, np.float32)

    @property
    def Y(self) -> HostArray:
        """Complex ground truth ``Y_I · exp(i·Y_phi)``, complex64 ``(B, N, N, C)``."""
        if "Y" not in self._tensor_cache:
            self._tensor_cache["Y"] = host(core.combine_complex(self.Y_I, self.Y_phi), np.complex64)
        return self._tensor_cache["Y"]

    @property
    def coords_nominal(self) -> HostArray:
        """Position offsets (model input), float32 ``(B, 1, 2, C)``."""
        return self._cached("coords_nominal", self._coords_nominal_np, np.float32)

    @property
    def coords(self) -> HostArray:
        """Alias of :attr:`coords_nominal`."""
        return self.coords_nominal

    @property
    def coords_true(self) -> HostArray:
        """True position offsets, float32 ``(B, 1, 2, C)`` (equal to the nominal ones from :func:`load`)."""
        return self._cached("coords_true", self._coords_true_np, np.float32)

    @property
    def probe(self) -> Optional[HostArray]:
        """Probe, complex64 ``(N, N)`` (None if the container has none)."""
        return self._cached("probe", self._probe_np, np.complex64)

    def __repr__(self) -> str:
        parts = ["<PtychoDataContainer"]
        for name, attr in (
            ("X", self._X_np),
            ("Y_I", self._Y_I_np),
            ("Y_phi", self._Y_phi_np),
            ("coords_nominal", self._coords_nominal_np),
            ("coords_true", self._coords_true_np),
            ("probe", self._probe_np),
        ):
            if attr is None:
                continue
            if np.iscomplexobj(attr):
                parts.append(f"{name}={attr.shape} mean_amplitude={np.mean(np.abs(attr)):.3f}")
            else:
                parts.append(f"{name}={attr.shape} mean={attr.mean():.3f}")
        for name in ("norm_Y_I", "YY_full", "nn_indices", "global_offsets", "local_offsets"):
            attr = getattr(self, name, None)
            if attr is not None:
                shape = getattr(attr, "shape", ())
                parts.append(f"{name}={shape}" if len(shape) else f"{name}=<scalar>")
        return " ".join(parts) + ">"

    def __len__(self) -> int:
        return len(self._X_np)

    def as_dataset(self, batch_size: int, shuffle: bool = True) -> ContainerBatches:
        """Training batches as a ``keras.utils.PyDataset`` (streams batches; for ``model.fit``).

        Each batch is ``((X·s, coords), (center_channels(Y_I, coords)[..., :1], X·s, (X·s)²))`` as float32
        NumPy arrays, ``s = cfg['intensity_scale']``. With ``shuffle`` the order is reshuffled every epoch with
        ``np.random.shuffle`` (as the original).

        Raises:
            KeyError: ``cfg['intensity_scale']`` is not set.
        """
        return ContainerBatches(self, batch_size, shuffle)

    #: the original's name; returns the backend-neutral :class:`ContainerBatches`, NOT a ``tf.data.Dataset``
    as_tf_dataset = as_dataset

    @staticmethod
    def from_raw_data_without_pc(
        xcoords, ycoords, diff3d, probeGuess, scan_index, objectGuess=None, N=None, K=7, nsamples=1
    ) -> PtychoDataContainer:
        """``RawData.from_coords_without_pc`` → ``generate_grouped_data(N, K, nsamples, cfg gridsize)`` → ``load``."""
        if N is None:
            N = params.get("N")
        raw = RawData.from_coords_without_pc(xcoords, ycoords, diff3d, probeGuess, scan_index, objectGuess)
        dset = raw.generate_grouped_data(N, K=K, nsamples=nsamples, gridsize=params.get("gridsize", 1))
        return load(lambda: dset, probeGuess, which=None, create_split=False)

    def to_npz(self, file_path) -> None:
        """Save the stored arrays with ``np.savez``: X, Y_I, Y_phi, norm_Y_I, YY_full, coords_nominal,
        coords_true, nn_indices, global_offsets, local_offsets, probe (None values become object arrays)."""
        np.savez(
            file_path,
            X=self._X_np,
            Y_I=self._Y_I_np,
            Y_phi=self._Y_phi_np,
            norm_Y_I=_host_or_none(self.norm_Y_I),
            YY_full=_host_or_none(self.YY_full),
            coords_nominal=self._coords_nominal_np,
            coords_true=self._coords_true_np,
            nn_indices=self.nn_indices,
            global_offsets=self.global_offsets,
            local_offsets=self.local_offsets,
            probe=self._probe_np,
        )


class ContainerBatches(TrainingBatches):
    """The batches of :meth:`PtychoDataContainer.as_dataset`: the engine's
    :class:`~ptycho_core.data.TrainingBatches` over the container, scaled by ``cfg['intensity_scale']`` and
    shuffled with NumPy's global RNG (``np.random.shuffle``, as the original)."""

    def __init__(self, container: PtychoDataContainer, batch_size: int, shuffle: bool = True, **kwargs: Any):
        try:
            scale = params.get("intensity_scale")
        except KeyError:
            raise KeyError(
                "cfg['intensity_scale'] is not set: train or load a model first, or params.set('intensity_scale', s)"
            ) from None
        self.container = container
        super().__init__(
            container._X_np,
            container._coords_nominal_np,
            container._Y_I_np,
            batch_size,
            scale=float(np.asarray(to_numpy(scale)).reshape(())),
            shuffle=shuffle,
            rng=np.random.mtrand._rand,
            **kwargs,
        )


def split_data(X_full, coords_nominal, coords_true, train_frac, which):
    """First ``int(len·train_frac)`` rows for ``'train'``, the rest for ``'test'`` (ValueError otherwise)."""
    n_train = int(len(X_full) * train_frac)
    if which == "train":
        return X_full[:n_train], coords_nominal[:n_train], coords_true[:n_train]
    if which == "test":
        return X_full[n_train:], coords_nominal[n_train:], coords_true[n_train:]
    raise ValueError("Invalid split type specified: must be 'train' or 'test'.")


def split_tensor(tensor, frac, which="test"):
    """First ``int(len·frac)`` rows for ``which='train'``, the remaining rows otherwise."""
    n_train = int(len(tensor) * frac)
    return tensor[:n_train] if which == "train" else tensor[n_train:]


def load(cb: Callable, probeGuess: Any, which: Optional[str], create_split: bool) -> PtychoDataContainer:
    """Build a :class:`PtychoDataContainer` from grouped data.

    Args:
        cb: callback returning the grouped dict of ``RawData.generate_grouped_data`` (or ``(dict, train_frac)``
            when ``create_split``).
        probeGuess: ``(N, N)`` probe (NumPy or tensor; a mode stack keeps mode 0).
        which: ``'train'`` or ``'test'`` (used only with ``create_split``).
        create_split: split rows into the first ``int(B·train_frac)`` (train) and the rest (test).
    Returns:
        Container with ``X`` = ``X_full`` (float32), coordinates from ``coords_start_relative`` (float32),
        ``Y_I``/``Y_phi`` from ``Y`` (ones/zeros if None), ``norm_Y_I``, ``global_offsets`` =
        ``coords_offsets`` and ``local_offsets`` = ``coords_relative`` (float64, as given).
    Raises:
        ValueError: an invalid ``which`` with ``create_split``, or X and Y with different channel counts.
    """
    train_frac = None
    if create_split:
        dset, train_frac = cb()
    else:
        dset = cb()

    X_full = dset["X_full"]
    relative_key = key_coords_relative if dset.get(key_coords_relative) is not None else "coords_relative"
    if relative_key not in dset:
        raise KeyError(
            f"grouped data has neither {key_coords_relative!r} nor 'coords_relative'; build it with "
            f"RawData.generate_grouped_data"
        )
    coords_nominal = coords_true = dset[relative_key]
    global_offsets = dset["coords_offsets"]
    local_offsets = dset["coords_relative"]
    nn_indices = dset.get("nn_indices")
    Y_full = dset.get("Y")

    if create_split:
        X_full, coords_nominal, coords_true = split_data(X_full, coords_nominal, coords_true, train_frac, which)
        global_offsets = split_tensor(global_offsets, train_frac, which)
        local_offsets = split_tensor(local_offsets, train_frac, which)
        if nn_indices is not None:
            nn_indices = split_tensor(nn_indices, train_frac, which)
        if Y_full is not None:
            Y_full = split_tensor(Y_full, train_frac, which)

    X = np.asarray(to_numpy(X_full)).astype(np.float32, copy=False)
    coords_nominal = np.asarray(coords_nominal).astype(np.float32, copy=False)
    coords_true = np.asarray(coords_true).astype(np.float32, copy=False)

    if Y_full is None:
        Y_I = np.ones(X.shape, dtype=np.float32)
        Y_phi = np.zeros(X.shape, dtype=np.float32)
        logger.info("loader: no ground truth; using Y_I = 1, Y_phi = 0 placeholders of shape %s", X.shape)
    else:
        Y_np = to_numpy(Y_full)
        Y_I = np.abs(Y_np).astype(np.float32)
        Y_phi = np.angle(Y_np).astype(np.float32)

    if X.shape[-1] != Y_I.shape[-1]:
        raise ValueError(
            f"Channel mismatch between X ({X.shape[-1]}) and Y ({Y_I.shape[-1]}): the ground truth "
            f"must have one channel per scan point of a group"
        )

    container = PtychoDataContainer(
        X,
        Y_I,
        Y_phi,
        host(energy_factor(X, float(params.get("nphotons")))),
        None,
        coords_nominal,
        coords_true,
        nn_indices,
        global_offsets,
        local_offsets,
        probeGuess,
    )
    logger.info("loader (%s): %r", which, container)
    return container
