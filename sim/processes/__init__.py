"""One module per mechanism (MODEL.md §4). Each exposes functions of a StepContext."""
