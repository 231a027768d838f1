"""A toy second service, built from nothing but a service definition: how a service is added."""
