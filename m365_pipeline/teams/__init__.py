"""Teams: each team's settings and installed apps, extracted as one snapshot of the tenant and loaded whole."""
