"""A local Microsoft Graph: deterministic synthetic tenants (``tenant.generate_tenant``), an app with Graph's
semantics, several tenants behind one multi-tenant app registration and injectable faults
(``app.GraphEmulator``), served in-process (``transport.EmulatorTransport``; ``in_process.shared_emulator`` makes
one per process) or on a socket, over http or https (``server.serve``, ``certificate.loopback_certificate``)."""
