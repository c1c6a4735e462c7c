"""The runbook engine: runs a runbook's steps, their commands and checks, without a UI."""
