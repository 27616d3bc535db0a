"""``python -m edge_agent`` runs the command line (same as ``edge-agent``)."""

from edge_agent.cli import main

raise SystemExit(main())
