"""Physics of the forward model: materials, wave propagation and analytic projections."""
