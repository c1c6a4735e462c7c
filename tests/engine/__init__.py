"""Running runbooks: processes, the runner, redaction."""
