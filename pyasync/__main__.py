"""python -m pyasync ps PID | pstree PID: see pyasync/remote.py."""
import sys

from .remote import main

sys.exit(main())
