"""Reply decision and delay control: whether, when and through which robot the hub answers (PRODUCT.md §5)."""
