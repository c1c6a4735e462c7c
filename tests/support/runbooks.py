"""Runbooks made in a test."""

from __future__ import annotations

from opsconsole.runbooks.model import Runbook


def book(**document: object) -> Runbook:
    base: dict[str, object] = {"id": "test", "title": "Test", "summary": "A test runbook."}
    return Runbook.model_validate(base | document)
