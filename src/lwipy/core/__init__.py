"""The sans-I/O core: a :class:`~lwipy.core.stack.Stack` and the protocol machinery it owns."""
