"""``daoli completion SHELL``: print the shell completion script.

Replaces typer's ``--show-completion`` / ``--install-completion``, which guess the shell from
the parent process (failing with a bare "Shell not supported." from scripts and CI) and
which edit rc files. Here the shell is named, the script goes to stdout, and installing it
is the user's own one line.
"""

from __future__ import annotations

from typing import Annotated

import typer
from typer._completion_classes import completion_init
from typer._completion_shared import get_completion_script

from daoli.cli.common import JsonOpt, emit, examples, fail

SHELLS = ("bash", "zsh", "fish", "powershell")
__all__ = ["COMPLETE_VAR", "SHELLS", "completion", "completion_init"]
COMPLETE_VAR = "_DAOLI_COMPLETE"


def completion(
    shell: Annotated[str, typer.Argument(help="bash, zsh, fish or powershell.",
                                         show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Print the completion script for SHELL.

    bash: add `eval "$(daoli completion bash)"` to ~/.bashrc; zsh: the same with zsh in
    ~/.zshrc; fish: `daoli completion fish > ~/.config/fish/completions/daoli.fish`.

    --json prints {"shell", "script"}.
    """
    if shell not in SHELLS:
        fail(f"shell {shell!r}: choose one of {', '.join(SHELLS)}")
    completion_init()
    script = get_completion_script(prog_name="daoli", complete_var=COMPLETE_VAR, shell=shell)

    def human() -> None:
        typer.echo(script)

    emit(as_json, {"shell": shell, "script": script}, human)


completion.__doc__ = (completion.__doc__ or "") + examples(
    "daoli completion bash", 'eval "$(daoli completion bash)"')
