"""Identity: principals, issued credentials (and, later, policy evaluation)."""
