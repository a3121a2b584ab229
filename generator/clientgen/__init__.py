"""``python -m generator clients``: a typed-client package generated from specs.

One module per model with frozen dataclasses for its inputs and outputs and a sync and
an asyncio client (thin layers over :class:`clients.ModelClient`), named by the rules of
:mod:`generator.clientgen.names`; deterministic, mypy-clean, with a drift check.
"""

from generator.clientgen.names import class_prefix, field_name, module_name
from generator.clientgen.write import COMMAND, check_clients, client_files, write_clients

__all__ = [
    "COMMAND",
    "check_clients",
    "class_prefix",
    "client_files",
    "field_name",
    "module_name",
    "write_clients",
]
