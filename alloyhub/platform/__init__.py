"""The shared core of AlloyHub. It knows nothing of MES modules or marketplaces."""
