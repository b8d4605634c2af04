"""``load_inference_bundle`` on a folder holding an unpacked ``wts.h5.zip`` (what Ptychodus 1.7.0 leaves when it
opens a saved ``<name>.zip``): the refusals. Opening a complete one is covered end to end by
``test_ptychodus_17.py::test_factory_trains_saves_opens_and_reconstructs_in_subprocesses``.
"""

from __future__ import annotations

import json

import pytest

from ptycho.workflows.components import load_inference_bundle
from ptycho_core.archive import ArchiveError


def test_folder_without_archive_or_manifest_is_still_file_not_found(tmp_path):
    (tmp_path / "diffraction_to_obj").mkdir()
    with pytest.raises(FileNotFoundError, match="wts.h5.zip"):
        load_inference_bundle(tmp_path)


def test_unpacked_archive_missing_members_names_them(tmp_path):
    (tmp_path / "manifest.dill").write_bytes(b"x")
    (tmp_path / "manifest.json").write_text(
        json.dumps({"sha256": {"manifest.dill": "0", "diffraction_to_obj/model.keras": "0"}})
    )
    with pytest.raises(FileNotFoundError, match=r"lacks \['diffraction_to_obj/model.keras'\]"):
        load_inference_bundle(tmp_path)


def test_unpacked_archive_listing_paths_outside_the_folder_is_refused(tmp_path):
    (tmp_path / "manifest.dill").write_bytes(b"x")
    (tmp_path / "manifest.json").write_text(json.dumps({"sha256": {"manifest.dill": "0", "../secret": "0"}}))
    with pytest.raises(ValueError, match=r"outside the folder \['../secret'\]"):
        load_inference_bundle(tmp_path)


def test_edited_unpacked_archive_fails_its_checksums(tmp_path):
    """Repacked files still go through the archive's own checks (here: manifest.json not as written)."""
    (tmp_path / "manifest.dill").write_bytes(b"x")
    (tmp_path / "manifest.json").write_text(json.dumps({"sha256": {"manifest.dill": "0"}}))
    with pytest.raises(ArchiveError, match="manifest.json is not as written"):
        load_inference_bundle(tmp_path)
