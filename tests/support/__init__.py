"""Test support: independent NumPy references, backend-specific autodiff, helpers."""
