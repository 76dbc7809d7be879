"""Plans, module entitlements, usage metering, Stripe billing and the operator's admin."""
