"""Scripts behind the one-off comparisons quoted in docs/pretraining.md and the model cards."""
