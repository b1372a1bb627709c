"""The click that typer runs on: typer >= 0.29 vendors it as ``typer._click``.

Exceptions and contexts must come from the same module typer raises them from, or
``except UsageError`` would never match; this gathers the few names the CLI needs.
"""

from __future__ import annotations

from typer._click.core import Command, Context
from typer._click.exceptions import (
    ClickException,
    NoArgsIsHelpError,
    UsageError,
)
from typer._click.globals import get_current_context
from typer.core import TyperGroup as Group
from typer.core import TyperOption as Option
from typer.exceptions import Abort

__all__ = ["Abort", "ClickException", "Command", "Context", "Group", "NoArgsIsHelpError",
           "Option", "UsageError", "get_current_context"]
