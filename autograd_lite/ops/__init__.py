"""The built-in operations: the op table (primitives, each op's forward, VJPs and JVP side by
side) and Value's operators bound from it. Imports only autograd_lite.core.
"""
