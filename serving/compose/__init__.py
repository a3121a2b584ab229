"""Run the compose stack on a real Docker engine: project control and the smoke test.

See ``docs/deployment.md`` (fully offline, with locally built images).
"""

from serving.compose.stack import ComposeError, ComposeProject, Leftovers

__all__ = ["ComposeError", "ComposeProject", "Leftovers"]
