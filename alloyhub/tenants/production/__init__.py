"""Production execution: work orders per published operation, the shop floor."""
