"""`aarya-chaos bite`: mutation testing of the suite itself.

A pre-release gate is worth exactly the regressions it catches. `bite` runs the scenarios against sabotaged
variants ("mutants") of the reference stack, each a small realistic regression a real team could ship (a
setting, a line of code, a script step, a server config line), and prints a matrix: per mutant, killed by a
failed check, caught only as an error, skipped, or survived. The goal: every mutant killed by a failed check.

    catalogue.py   the mutants: what changes, why a team might ship it, which scenario tests must catch it
    mutate.py      a copy of the working tree with the mutant applied, and its stack config (mutant.toml)
    runner.py      one pytest per mutant in the copy, the classification of its summary.json, the clean-up
    child.py       the child processes (own session, SIGINT then SIGKILL to its group) and the signals
    matrix.py      the console table, bite.json, bite.md and bite.html
    command.py     the command line

    aarya-chaos bite --list                       the catalogue
    aarya-chaos bite --check                      every mutant still applies to the tree (runs nothing)
    aarya-chaos bite [--only ID ...] [--reports-dir reports/bite] [--timeout 900] [--keep]

The project tree is never modified: each mutant runs in `/tmp/aarya-chaos/bite/<run>/<mutant>/src`, its
stack in `.../run` on the default ports (stop any other stack first), one mutant at a time.
"""

from aarya_chaos.bite.command import add_bite_command, cmd_bite, main

__all__ = ["add_bite_command", "cmd_bite", "main"]
