"""Creates the Cosmos DB database and containers on an emulator (in Azure, the Bicep creates them).

python -m infra.tools.cosmos_setup        # reads COSMOS_CONNECTION (a connection string) from the
                                          # environment or from local.settings.json
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from infra.entry import bootstrap
from infra.entry.settings import SettingsError, cosmos_connection, load_local_settings


def main() -> None:
    """Creates the database and the containers every service uses on the emulator COSMOS_CONNECTION
    names (from the environment or local.settings.json)."""
    raise typer.Exit(_create())


def _create() -> int:
    if "COSMOS_CONNECTION" not in os.environ:
        load_local_settings(Path("local.settings.json"))
    try:
        connection = cosmos_connection(os.environ)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    if connection.connection_string is None:
        print(
            "use the Bicep (azd up) to create containers in Azure; this is for the emulator", file=sys.stderr
        )
        return 2
    for spec in bootstrap.create_emulator_containers(connection.connection_string):
        print(f"container {spec.name} ({spec.partition_key}) is ready")
    return 0


if __name__ == "__main__":
    typer.run(main)
