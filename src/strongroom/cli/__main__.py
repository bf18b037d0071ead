"""``python -m strongroom.cli``: the same as the ``strongroom`` command."""

from strongroom.cli import main

main()
