"""Amazon OpenSearch Service, stood in for by the emulated OpenSearch (a REST subset).

- `server`: the HTTP endpoint; `api`: the REST routes; `errors`: OpenSearch-style error bodies.
- `store`: indices, documents, templates; `journal`: persistence; `names`: index names and
  patterns; `mapping`: field types and document parsing; `dates`: date formats and date math.
- `bulk`, `search`, `query`, `aggs`: `_bulk`, `_search`/`_count`, the query DSL, aggregations.
- `plugins`: ISM and security roles mappings; `dashboards`: the saved objects API.
- `resources`: the domain type and the emulator's start-up.
"""
