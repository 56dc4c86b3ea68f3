"""The demo project's own apps (customers API, login and roles); the kit itself is the soc2kit package."""
