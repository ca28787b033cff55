"""The `cenkeras` command line (installed as `cenkeras.cli`)."""
