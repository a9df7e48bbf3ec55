"""The layer above the sans-I/O core: the loop that owns a stack on one thread (the seed of lwIP's tcpip thread)."""

from .loop import StackLoop

__all__ = ["StackLoop"]
