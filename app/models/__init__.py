"""ORM models. Importing this package registers every table on ``Base.metadata``."""

from app.models.audit import AuditChainHead, AuditRecord
from app.models.base import Base
from app.models.client import Client, RateWindow, UsedClientAssertion
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
from app.models.signing_key import SigningKey

__all__ = [
    "AuditChainHead",
    "AuditRecord",
    "Base",
    "Citizen",
    "Client",
    "CodeItem",
    "Commune",
    "FamilyRelation",
    "Household",
    "LegacyCommune",
    "PinHistory",
    "PopulationRun",
    "Province",
    "RateWindow",
    "Residence",
    "SigningKey",
    "UsedClientAssertion",
]
