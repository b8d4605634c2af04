"""A replica of Ptychodus git 7ccf581's in-process ``PtychoPINNTrainableReconstructor`` (not on the registry).

Source: ``src/ptychodus/model/ptychopinn/reconstructor.py`` at git 7ccf581, as recorded call by call in
``shared/design/ORIGINAL_API.md`` §1.1 (``PDg`` line numbers in the comments below). Everything it does with
``ptycho`` is reproduced exactly — the module-level imports, the names it uses without importing them
(``ptycho.probe``, ``ptycho.tf_helper``), the order of ``update_legacy_dict`` and ``open_model``, the grouping call
without ``gridsize=``, ``ptycho.model.params()['intensity_scale']``, ``reassemble_position(..., M=20)`` and
``numpy.squeeze`` — while the Ptychodus side (settings, product classes) uses Ptychodus 1.7.0's API, which has the
same fields. The settings are plain attributes here instead of Ptychodus settings groups (same names and
defaults as ``PDg:model/ptychopinn/settings.py``).

Kept on purpose: the git ``train`` ends with ``open_model(output_dir)``, which loads from ``output_dir.parent``
(a Ptychodus bug, §1.1 train step 9). It raises ``FileNotFoundError`` unless the parent folder happens to hold a
``wts.h5.zip``; :meth:`GitPtychoPINNReconstructor.train` therefore takes ``reopen=True`` to run that step as git
does, and tests assert the error instead of loosening ``load_inference_bundle``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import version  # PDg L3
from pathlib import Path
from typing import Any, Optional

import numpy
from ptychodus.api.object import Object
from ptychodus.api.product import Product
from ptychodus.api.reconstruct import ReconstructInput, ReconstructOutput, TrainOutput

import ptycho.loader
import ptycho.model_manager
import ptycho.params

# PDg L10-15: module-level imports (a ModuleNotFoundError here makes Ptychodus log 'PtychoPINN not found.')
from ptycho.config.config import InferenceConfig, ModelConfig, TrainingConfig, update_legacy_dict
from ptycho.raw_data import RawData
from ptycho.workflows.components import load_inference_bundle

logger = logging.getLogger(__name__)


@dataclass
class ModelSettings:
    """``PDg:model/ptychopinn/settings.py`` model group (defaults as Ptychodus)."""

    gridsize: int = 1
    n_filters_scale: int = 2
    amp_activation: str = "sigmoid"
    object_big: bool = True
    probe_big: bool = True
    probe_mask: bool = False
    pad_object: bool = True
    probe_scale: float = 4.0
    gaussian_smoothing_sigma: float = 0.0


@dataclass
class TrainingSettings:
    """Training group (defaults as Ptychodus)."""

    nphotons: float = 1e6
    batch_size: int = 16
    nepochs: int = 50
    mae_weight: float = 0.0
    nll_weight: float = 1.0
    realspace_mae_weight: float = 0.0
    realspace_weight: float = 0.0
    positions_provided: bool = True
    probe_trainable: bool = False
    intensity_scale_trainable: bool = True


@dataclass
class InferenceSettings:
    """Inference group (defaults as Ptychodus: 7 neighbours, ONE sample)."""

    n_nearest_neighbors: int = 7
    n_samples: int = 1


def create_raw_data(parameters: ReconstructInput) -> Any:
    """PDg L40-58: positions mapped point by point to object pixels (lists → float64 arrays)."""
    product = parameters.product
    object_geometry = product.object_.get_geometry()
    xcoords: list[float] = []
    ycoords: list[float] = []
    for scan_point in product.probe_positions:
        object_point = object_geometry.map_coordinates_probe_to_object(scan_point)
        xcoords.append(object_point.x_px)
        ycoords.append(object_point.y_px)
    return RawData.from_coords_without_pc(
        xcoords=numpy.array(xcoords),
        ycoords=numpy.array(ycoords),
        diff3d=parameters.diffraction_patterns,  # raw detector counts (intensity), as git passes them
        probeGuess=product.probes.get_probe_no_opr().get_incoherent_mode(0),  # 2-D (H, W)
        scan_index=numpy.zeros(len(xcoords), dtype=int),
        objectGuess=product.object_.get_layer(0),
    )


class GitPtychoPINNReconstructor:
    """The git reconstructor's ``ptycho`` calls, in order (``name`` is ``'PINN'`` or ``'Supervised'``)."""

    def __init__(
        self,
        name: str = "PINN",
        model: Optional[ModelSettings] = None,
        training: Optional[TrainingSettings] = None,
        inference: Optional[InferenceSettings] = None,
    ) -> None:
        self._name = name
        self.model_settings = model or ModelSettings()
        self.training_settings = training or TrainingSettings()
        self.inference_settings = inference or InferenceSettings()
        self._model: Any = None
        self._config: Any = None
        self.ptychopinn_version = version("ptychopinn")  # PDg L84: a PackageNotFoundError crashes start-up
        logger.info("PtychoPINN %s", self.ptychopinn_version)

    # ------------------------------------------------------------------------------------------ configs
    def _create_model_config(self, model_size: int) -> ModelConfig:  # PDg L87-100
        s = self.model_settings
        return ModelConfig(
            N=model_size,
            gridsize=int(s.gridsize),
            n_filters_scale=int(s.n_filters_scale),
            model_type=self._name.lower(),
            amp_activation=str(s.amp_activation),
            object_big=bool(s.object_big),
            probe_big=bool(s.probe_big),
            probe_mask=bool(s.probe_mask),
            pad_object=bool(s.pad_object),
            probe_scale=float(s.probe_scale),
            gaussian_smoothing_sigma=float(s.gaussian_smoothing_sigma),
        )

    # ------------------------------------------------------------------------------------------ inference
    def _reconstruct_image(self, test_data: Any) -> Any:  # PDg L115-119
        import ptycho.model

        intensity_scale = ptycho.model.params()["intensity_scale"]
        return self._model.predict([test_data.X * intensity_scale, test_data.local_offsets])

    def reconstruct(self, parameters: ReconstructInput) -> ReconstructOutput:  # PDg L121-180
        model_size = parameters.diffraction_patterns.shape[-1]
        if parameters.diffraction_patterns.shape[-2] != model_size:  # PDg L124
            raise ValueError("Model requires square diffraction patterns!")
        model_config = self._create_model_config(model_size)
        inference_config = InferenceConfig(
            model=model_config, model_path=Path(), test_data_file=Path(), debug=False, output_dir=Path()
        )
        update_legacy_dict(ptycho.params.cfg, inference_config)
        test_raw_data = create_raw_data(parameters)
        ptycho.probe.set_probe_guess(None, test_raw_data.probeGuess)  # ptycho.probe: bound by the imports above
        test_dataset = test_raw_data.generate_grouped_data(
            model_config.N, K=self.inference_settings.n_nearest_neighbors, nsamples=self.inference_settings.n_samples
        )  # no gridsize=, no seed=
        test_data_container = ptycho.loader.load(
            lambda: test_dataset, test_raw_data.probeGuess, which=None, create_split=False
        )
        obj_tensor_full = self._reconstruct_image(test_data_container)
        stitched = ptycho.tf_helper.reassemble_position(obj_tensor_full, test_data_container.global_offsets, M=20)
        object_in = parameters.product.object_
        object_out = Object(
            array=numpy.squeeze(stitched),
            layer_spacing_m=object_in.layer_spacing_m,
            pixel_geometry=object_in.get_pixel_geometry(),
            center=object_in.get_center(),
        )
        product = Product(
            metadata=parameters.product.metadata,
            probe_positions=parameters.product.probe_positions,
            probes=parameters.product.probes,
            object_=object_out,
            losses=[],
        )
        return ReconstructOutput(product)

    # ------------------------------------------------------------------------------------------ models
    def open_model(self, file_path: Path) -> None:  # PDg L185-194
        if file_path.name != "wts.h5.zip":
            logger.warning("PtychoPINN expects the file name 'wts.h5.zip'; got %r", file_path.name)
        self._model, self._config = load_inference_bundle(file_path.parent)

    def save_model(self, file_path: Path) -> None:  # PDg L196-197
        ptycho.model_manager.save(file_path)

    def export_training_data(self, file_path: Path, parameters: ReconstructInput) -> None:  # PDg L202-226
        product = parameters.product
        object_geometry = product.object_.get_geometry()
        xcoords: list[float] = []
        ycoords: list[float] = []
        for scan_point in product.probe_positions:
            object_point = object_geometry.map_coordinates_probe_to_object(scan_point)
            xcoords.append(object_point.x_px)
            ycoords.append(object_point.y_px)
        numpy.savez(
            file_path,
            xcoords=xcoords,
            ycoords=ycoords,
            xcoords_start=xcoords,
            ycoords_start=ycoords,
            diff3d=parameters.diffraction_patterns,
            probeGuess=product.probes.get_probe_no_opr().get_incoherent_mode(0),
            objectGuess=product.object_.get_layer(0),
            scan_index=numpy.zeros(len(xcoords), dtype=int),
        )

    def train(self, data_path: Path, output_dir: Path, *, reopen: bool = True) -> TrainOutput:  # PDg L231-275
        test_raw_data = RawData.from_file(data_path / "test_data.npz")
        train_raw_data = RawData.from_file(data_path / "train_data.npz")
        model_size = train_raw_data.diff3d.shape[-1]
        s = self.training_settings
        training_config = TrainingConfig(
            model=self._create_model_config(model_size),
            train_data_file=Path(),
            test_data_file=None,
            batch_size=s.batch_size,
            nepochs=s.nepochs,
            mae_weight=s.mae_weight,
            nll_weight=s.nll_weight,
            realspace_mae_weight=s.realspace_mae_weight,
            realspace_weight=s.realspace_weight,
            nphotons=s.nphotons,
            positions_provided=s.positions_provided,
            probe_trainable=s.probe_trainable,
            intensity_scale_trainable=s.intensity_scale_trainable,
            output_dir=Path(),
        )
        update_legacy_dict(ptycho.params.cfg, training_config)
        from ptycho.workflows.components import run_cdi_example, save_outputs

        recon_amp, recon_phase, train_results = run_cdi_example(train_raw_data, test_raw_data, training_config)
        self.last_train_results = train_results  # not in git: lets the tests read the loss history
        self.save_model(output_dir)
        save_outputs(recon_amp, recon_phase, train_results, str(output_dir))
        if reopen:
            self.open_model(output_dir)  # git's bug: loads output_dir.parent (see the module docstring)
        return TrainOutput()
