"""Customers, customer orders and their lines: lifecycle with history,
imports, the promised-date check and the customer's tracking view."""
