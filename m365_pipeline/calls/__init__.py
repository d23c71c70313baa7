"""Teams call records (meeting quality) by UTC day of the call's start: extracted from Graph into the raw store, one
file per tenant and day, and loaded into the warehouse a day at a time, each day replacing its window."""
