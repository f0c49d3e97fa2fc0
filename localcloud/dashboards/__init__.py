"""The local dashboard: the OpenSearch Dashboards saved objects the stack installs, drawn from the
emulated OpenSearch as a live page (README, "The live dashboard")."""
