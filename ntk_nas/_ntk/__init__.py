"""The empirical NTK engine; it knows nothing of search: `f(params, x)` in, kernels out."""
