"""The results layer, below the benchmark, the studies and the report, which all import it:

- `schema`: every table this project writes and its key, and the names of datasets in files;
- `store`: how a table is written (one part per writer, atomically) and read (`ResultStore`);
- `experiment`: an experiment folder read into frames for the report (`load_experiment`);
- `cells`: tables of cells, a tabular benchmark's architectures mapped to their trainings.

It imports `nas` (files, spaces) and pandas/pyarrow, nothing above it.
"""
