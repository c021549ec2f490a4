"""ORM models. Importing this package registers every table on ``Base.metadata``."""

from app.models.base import Base
from app.models.population import (
    Citizen,
    CodeItem,
    Commune,
    FamilyRelation,
    Household,
    LegacyCommune,
    PinHistory,
    PopulationRun,
    Province,
    Residence,
)

__all__ = [
    "Base",
    "Citizen",
    "CodeItem",
    "Commune",
    "FamilyRelation",
    "Household",
    "LegacyCommune",
    "PinHistory",
    "PopulationRun",
    "Province",
    "Residence",
]
