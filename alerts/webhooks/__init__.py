"""Provider webhooks: thin views that verify the caller, then call a service function."""
