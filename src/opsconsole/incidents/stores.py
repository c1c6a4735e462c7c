"""The store a configuration names: PostgreSQL with [incidents] dsn, files otherwise."""

from __future__ import annotations

from opsconsole.config.model import LoadedConfig
from opsconsole.incidents.files import FileStore, default_directory
from opsconsole.incidents.store import IncidentStore


def store_for(loaded: LoadedConfig | None) -> IncidentStore:
    if loaded is not None and loaded.config.incidents.dsn is not None:
        from opsconsole.incidents.postgres import PostgresStore  # psycopg only for this one

        return PostgresStore(loaded.config.incidents.dsn.get_secret_value())
    directory = loaded.incidents_path() if loaded is not None else None
    return FileStore(directory or default_directory())
