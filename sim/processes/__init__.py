"""One module per mechanism (docs/MODEL.md). Each exposes functions of a StepContext."""
