"""Training-free scores of architectures at initialisation."""
