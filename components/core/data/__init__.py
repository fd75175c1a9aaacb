"""Data files of the pure core (published policies), read with importlib.resources."""
