"""The original ``ptycho.workflows``: end-to-end entry points (``components``) and backend dispatch."""
