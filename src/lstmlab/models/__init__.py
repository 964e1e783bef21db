"""The networks and LightningModules: torch, Lightning and torchmetrics only, never the
data or run layers."""
