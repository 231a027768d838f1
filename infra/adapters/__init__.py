"""Adapters: one package per backend, one module per port; each imports the ports, the formats and its
own SDK only, and only the composition root (infra.entry.bootstrap) imports them."""
