"""The lake: canonical schema, catalog and Parquet storage, errors. Imports no other cathode-lake package."""
