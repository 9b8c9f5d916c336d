"""The pure core: statuses, transitions and pipeline specs. Imports no web or queue code."""
