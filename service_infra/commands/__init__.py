"""Commands as data: small pure functions that return argument lists (and the texts they carry,
such as fly.toml and the proxy's nginx configuration), unit-tested without running anything."""
