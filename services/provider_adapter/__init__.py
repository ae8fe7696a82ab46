"""Provider adapter: one process per commissioned service. Keeps that provider's work
queue, serves the provider API, and reports every step back onto the bus."""
