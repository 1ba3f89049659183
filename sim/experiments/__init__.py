"""Running replicates, writing results with provenance, (later) designs and executors."""
