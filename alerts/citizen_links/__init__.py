"""Pages citizens reach from links in our emails: one-click unsubscribe and check-in."""
