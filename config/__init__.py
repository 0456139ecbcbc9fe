"""Configuration: policy parameters (`policy.toml` read by `settings.load_policy`), source
contracts (`schema.py`), rules and severities (`rules.py`), settings and `Resources`
(`settings.py`, built once per entry point), private files at rest (`private.py`)."""

__all__ = ["private", "rules", "schema", "settings"]
