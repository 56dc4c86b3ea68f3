"""Client address behind trusted proxies, and the django-axes wiring that keys lockouts on it."""
