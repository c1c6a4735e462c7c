"""What the tests share: the harness's real servers, helpers that drive the console as
an operator does, and the console's own commands run as processes."""
