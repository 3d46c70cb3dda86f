"""Neural-network modules built on autograd_lite.Value."""
