"""Model families: each folder holds a dims dataclass, the modules and a loader."""
