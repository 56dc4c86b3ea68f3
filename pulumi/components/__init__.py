"""One ComponentResource per concern; each takes the validated StackConfig, never raw config."""
