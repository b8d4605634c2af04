"""ptycho_testing: test support for the suite (on sys.path via pytest pythonpath).

Independent NumPy references, backend-specific autodiff, helpers.
"""
