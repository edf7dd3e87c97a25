"""Dataset jobs: many inputs explained on Ray, results written as Parquet + NPZ (``store``), resumable."""
