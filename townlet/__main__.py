"""``python -m townlet`` is the ``townlet`` command."""

from townlet.cli import main

main()
