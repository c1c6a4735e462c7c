"""The configuration and the runbook library as files a user writes."""
