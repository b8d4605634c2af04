"""The original ``ptycho.image`` names used by training and evaluation: regular-grid patch stitching."""

from .stitching import reassemble_patches, stitch_patches

__all__ = ["stitch_patches", "reassemble_patches"]
