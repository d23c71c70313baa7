"""Microsoft 365 usage reports: the CSV behind each report's redirect, downloaded without Graph's token, kept
whole in the raw store and loaded by header name into the warehouse, concealed names detected and flagged."""
