"""The original's generator registry: which network builds the models (only the CNN exists)."""
