"""genesis_core: the pure library of the Genesis pipeline.

It never imports prefect, dask/distributed, mlflow or s3fs (a test enforces it).
Array axis order everywhere is stated once in :mod:`genesis_core.axes`.
"""

__version__ = "0.1.0"
