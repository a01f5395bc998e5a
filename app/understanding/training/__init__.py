"""Training scripts (scikit-learn at training time only; the hub runs on NumPy weights)."""
