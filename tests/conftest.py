"""JAX strictness and several CPU devices for every test; XLA's costly optimisations off.

The tests' programs are tiny and each runs a few times, so XLA's backend (LLVM) optimisation
passes cost far more compile time than they save run time: with them off (as
``JAX_DISABLE_MOST_OPTIMIZATIONS`` turns them off, here and in the processes the tests start),
the default run takes about a third less time. Only the backend's code generation changes: the HLO
passes and buffer assignment are unchanged, so memory analyses read the same figures. Set
``NTK_NAS_TEST_XLA_OPTIMIZE=1`` to run the tests with every optimisation on.
"""

import os

import jax

jax.config.update("jax_num_cpu_devices", 4)
jax.config.update("jax_numpy_rank_promotion", "raise")
if os.environ.get("NTK_NAS_TEST_XLA_OPTIMIZE") != "1":
    os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1"  # for the subprocesses of the tests
    jax.config.update("jax_disable_most_optimizations", True)
