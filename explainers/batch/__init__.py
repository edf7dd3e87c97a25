"""Dataset jobs: many inputs explained on Ray, results written as Parquet + NPZ, resumable.

``reader`` lists a job's inputs (each modality spec says how), ``actors`` explains a batch of them on a worker,
``job.run_job`` runs the whole job on Ray Data, ``store`` is the on-disk format (and how to read it back)."""
