"""Parameter exploration runs: parallel, resumable, with provenance."""
