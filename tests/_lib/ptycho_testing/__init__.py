"""ptycho_testing: test support for the suite (on sys.path via pytest pythonpath): independent NumPy references, backend-specific autodiff, helpers."""
