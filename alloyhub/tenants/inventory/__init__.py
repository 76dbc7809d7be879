"""Inventory and logistics: stock by coil, moves, reservations, shipments, labels, genealogy."""
