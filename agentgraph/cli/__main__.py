"""``python -m agentgraph.cli``: same as the ``agentgraph`` command."""

from agentgraph.cli import main

main()
