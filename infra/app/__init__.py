"""Application services, written against the ports: the command pipeline, the relay, the projection runner,
the read side, rebuild and verify, dead letters and generations. They never import an adapter, an Azure
SDK, the entry layer or the tools."""
