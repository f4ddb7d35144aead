"""Identity verification: one-time codes by SMS, service password, ID digits; bound to a conversation."""
