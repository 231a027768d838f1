"""The Azure Event Hubs backend: the only package besides the composition root that imports azure.eventhub."""
