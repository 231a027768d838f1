"""The Azure Cosmos DB backend: the only package besides the composition root that imports azure.cosmos."""
