"""TOML documents (the configuration, the runbook library, the drills) loaded into typed
models, every problem reported as FILE:LINE:COL."""
