"""The engine: Value, the op machinery (Op, defop, OPS), grad modes, the backward walk and
Function. It knows no op and no tool: it imports nothing else from autograd_lite.
"""
