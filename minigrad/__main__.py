"""``python -m minigrad``: the short tour (see minigrad.demo)."""
from .demo import main

raise SystemExit(main())
