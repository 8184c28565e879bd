"""Search spaces: Flax model builders behind one small protocol."""
