"""The runbook library, `runbooks.toml`: what a runbook is, and how the library loads."""
