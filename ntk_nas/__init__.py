"""ntk_nas: training-free NAS for JAX."""
