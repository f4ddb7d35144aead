"""The billing customer-service assistant: the billing store, identity verification and channels."""
