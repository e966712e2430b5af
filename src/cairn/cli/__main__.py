"""python -m cairn.cli"""

from cairn.cli import main

main()
