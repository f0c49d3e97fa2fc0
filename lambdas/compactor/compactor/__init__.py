"""The compactor: counts raw objects once, claims them in batches, rewrites each batch as Parquet
with an Athena CTAS. See athena/compaction.md for the state machine."""
