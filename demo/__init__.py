"""The demo and its accounting: verification of the local cloud, not emulation.

- `run`: `make demo` (`python -m localcloud demo`): the real Sense HAT log through the whole
  pipeline on the local cloud, then the analysis SQL and the report.
- `accounting`, `alert_accounting`: where every reading and every alert ended up (also used by
  the end-to-end tests and the benchmarks).
- `report`, `report_charts`: `out/report.html` (from `templates/report.html.j2`) and its
  matplotlib charts (`python -m demo.report --out out`).
"""
