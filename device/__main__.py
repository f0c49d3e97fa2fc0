"""`python -m device publish|check|provision|status` (see device/README.md)."""

from device.cli import main

raise SystemExit(main())
