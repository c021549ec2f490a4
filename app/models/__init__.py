"""ORM models. Importing this package registers every table on ``Base.metadata``."""

from app.models.account import Account, AccountEvent, OneTimeCode, SmsMessage
from app.models.audit import AuditChainHead, AuditRecord
from app.models.base import Base
from app.models.card import Card, CardEvent, ChipSession, PkiKey
from app.models.client import Client, RateWindow, UsedClientAssertion
from app.models.consent import Consent
from app.models.documents import DocumentOverride
from app.models.events import (
    Delivery,
    DeliveryAttempt,
    IdempotencyRecord,
    LifeEvent,
    LifeEventHead,
    SandboxClockState,
    Subscription,
)
from app.models.judicial import JudicialConviction, JudicialRecordRequest
from app.models.oidc import (
    AuthorizationCode,
    BrowserSession,
    IssuedAccessToken,
    LoginInteraction,
    RefreshToken,
)
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
from app.models.sandbox import ConsoleSession, FaultCounter, FaultRule, SandboxPersona, Tenant
from app.models.signing_key import DeploymentSecret, SigningKey

__all__ = [
    "Account",
    "AccountEvent",
    "AuditChainHead",
    "AuditRecord",
    "AuthorizationCode",
    "Base",
    "BrowserSession",
    "Card",
    "CardEvent",
    "ChipSession",
    "Citizen",
    "Client",
    "CodeItem",
    "Commune",
    "Consent",
    "ConsoleSession",
    "Delivery",
    "DeliveryAttempt",
    "DeploymentSecret",
    "DocumentOverride",
    "FamilyRelation",
    "FaultCounter",
    "FaultRule",
    "Household",
    "IdempotencyRecord",
    "IssuedAccessToken",
    "JudicialConviction",
    "JudicialRecordRequest",
    "LegacyCommune",
    "LifeEvent",
    "LifeEventHead",
    "LoginInteraction",
    "OneTimeCode",
    "PinHistory",
    "PkiKey",
    "PopulationRun",
    "Province",
    "RateWindow",
    "RefreshToken",
    "Residence",
    "SandboxClockState",
    "SandboxPersona",
    "SigningKey",
    "SmsMessage",
    "Subscription",
    "Tenant",
    "UsedClientAssertion",
]
