"""Athena on one machine: the Athena API over DuckDB, tables from Glue, data from S3 (moto).

- `server`: the HTTP endpoint (JSON 1.1 protocol); `api`: the API operations, query executions,
  workgroups, named queries.
- `engine`: running one statement; `sql`: parsing and translating Athena SQL to DuckDB;
  `types`: Glue, DuckDB and Athena types; `dates`: Java patterns as strftime codes.
- `catalog`: tables and partitions through Glue; `projection`: partition projection;
  `pruning`: what a WHERE clause says about partitions; `staging`: the S3 objects a query reads.
- `resources`: workgroups and named queries, and the endpoint's start-up.
"""
