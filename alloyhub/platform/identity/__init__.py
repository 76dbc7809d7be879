"""Tenants, sites, users, memberships, roles, invitations and sign-in."""
