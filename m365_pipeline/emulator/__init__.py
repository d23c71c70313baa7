"""A local Microsoft Graph: deterministic synthetic tenants (``tenant.generate_tenant``: users, SKUs, groups with
members and owners, managers, roles, apps, conditional access; ``auth_methods`` derives each user's methods), a
live state per tenant that changes over emulator time (``state.TenantState``, ``clock.EmulatorClock``), Graph's
resources and query semantics (``routes``, ``odata``), delta query (``delta``), JSON batching (``batch``), the
published throttling limits (``limits``), the emulator's own admin endpoints (``admin``), several tenants behind one
multi-tenant app registration and injectable faults (``app.GraphEmulator``), served in-process
(``transport.EmulatorTransport``; ``in_process.shared_emulator`` makes one per process) or on a socket, over http or
https (``server.serve``, ``certificate.loopback_certificate``)."""
