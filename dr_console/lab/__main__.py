import sys

from dr_console.lab.cli import main

# `python -m dr_console.lab up` is `dr-console lab up` without the rest of the CLI.
sys.exit(main(["lab", *sys.argv[1:]]))
