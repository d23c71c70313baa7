"""OneDrive: each user's drive with its quota, and the sharing permissions of its items, classified internal,
external (guest or other domain) or anonymous, found incrementally with the drive's delta query."""
