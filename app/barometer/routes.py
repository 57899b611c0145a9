"""The public barometer's pages."""
