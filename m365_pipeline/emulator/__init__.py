"""A local Microsoft Graph: a deterministic synthetic tenant (``tenant.generate_tenant``), an app with Graph's
semantics and injectable faults (``app.GraphEmulator``), served in-process (``transport.EmulatorTransport``)
or on a socket (``server.serve``)."""
