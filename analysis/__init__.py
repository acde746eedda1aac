"""Tables and figures from the benchmark's parquet results (pandas, seaborn)."""
