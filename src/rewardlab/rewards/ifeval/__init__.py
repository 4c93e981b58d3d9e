"""The IFEval family: verifiable instructions checked by the reference checkers (`ifeval`)."""
