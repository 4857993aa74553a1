"""The regulated vocabulary, declared once: data categories, lawful bases (POPIA s11), erasure
behaviours, processing purposes and retention policies. Everything else (models, seeds, checks,
the admin, the inventory) refers to these codes; system checks refuse a code not declared here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class Category(StrEnum):
    IDENTITY = "identity"
    CONTACT = "contact"
    FINANCIAL = "financial"
    CARD = "card"
    SPECIAL = "special"  # POPIA s26: religion, race, health, biometrics, criminal behaviour, ...
    CHILDREN = "children"  # POPIA s34/s35


CATEGORY_DESCRIPTIONS = {
    Category.IDENTITY: "Identifies the person: names, identity/passport numbers, date of birth.",
    Category.CONTACT: "Reaches the person: e-mail, phone, postal and physical address.",
    Category.FINANCIAL: "Bank accounts, balances, transactions, income.",
    Category.CARD: "Payment card data (PCI DSS): PAN; CVV is never stored.",
    Category.SPECIAL: "Special personal information (POPIA s26): prohibited unless s27 applies.",
    Category.CHILDREN: "Personal information of children (POPIA s34): prohibited unless s35 applies.",
}


SENSITIVE_BY_DEFAULT = frozenset({Category.CARD, Category.SPECIAL, Category.CHILDREN})


class LawfulBasis(StrEnum):
    """POPIA s11(1)(a)-(f)."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTEREST = "vital_interest"
    PUBLIC_LAW_DUTY = "public_law_duty"
    LEGITIMATE_INTEREST = "legitimate_interest"


LAWFUL_BASIS_REFERENCES = {
    LawfulBasis.CONSENT: "POPIA s11(1)(a): the data subject consents",
    LawfulBasis.CONTRACT: "POPIA s11(1)(b): necessary for a contract with the data subject",
    LawfulBasis.LEGAL_OBLIGATION: "POPIA s11(1)(c): complies with an obligation imposed by law",
    LawfulBasis.VITAL_INTEREST: "POPIA s11(1)(d): protects a legitimate interest of the data subject",
    LawfulBasis.PUBLIC_LAW_DUTY: "POPIA s11(1)(e): proper performance of a public law duty",
    LawfulBasis.LEGITIMATE_INTEREST: "POPIA s11(1)(f): legitimate interest of the responsible party",
}


class Erasure(StrEnum):
    """What a deletion request does to the field."""

    DELETE = "delete"  # the row goes
    NULL = "null"  # the value is cleared
    PSEUDONYMISE = "pseudonymise"  # replaced by a stable, non-identifying token
    RETAIN_UNDER_LEGAL_DUTY = "retain_under_legal_duty"  # kept until the retention end, then purged


@dataclass(frozen=True)
class Purpose:
    code: str
    description: str
    consent_required: bool


PURPOSES: dict[str, Purpose] = {
    p.code: p
    for p in (
        Purpose("account_management", "Opening and running the customer's account and wallet.", False),
        Purpose("kyc", "Customer due diligence: verifying identity (FICA s21).", False),
        Purpose("payments", "Executing deposits, withdrawals and transfers the customer asks for.", False),
        Purpose("fraud_prevention", "Detecting and preventing fraud and money laundering (FICA, POCA).", False),
        Purpose("direct_marketing", "Offers by e-mail/SMS: only with explicit opt-in (POPIA s69).", True),
        Purpose("legal_compliance", "Records the law requires us to keep and report (FICA, tax, PAIA).", False),
        Purpose("security", "Authentication, MFA, audit of access, incident investigation (POPIA s19).", False),
    )
}


@dataclass(frozen=True)
class RetentionPolicy:
    code: str
    period: timedelta | None  # None: for as long as the trigger lasts
    trigger: str  # what starts the clock
    reason: str  # the law or need that sets the period

    def describe_period(self) -> str:
        if self.period is None:
            return f"while {self.trigger}"
        days = self.period.days
        if days >= 365 and days % 365 == 0:
            amount = f"{days // 365} year{'s' if days // 365 != 1 else ''}"
        elif self.period < timedelta(days=1):
            amount = f"{int(self.period.total_seconds() // 3600)} hours"
        else:
            amount = f"{days} days"
        return f"{amount} after {self.trigger}"


_YEAR = timedelta(days=365)


RETENTION_POLICIES: dict[str, RetentionPolicy] = {
    p.code: p
    for p in (
        RetentionPolicy(
            "fica_customer_due_diligence",
            5 * _YEAR,
            "the business relationship ends",
            "FICA s22/s23: customer due diligence records kept 5 years after the relationship ends",
        ),
        RetentionPolicy(
            "fica_transactions",
            5 * _YEAR,
            "the transaction date",
            "FICA s22A/s23: transaction records kept 5 years after the transaction",
        ),
        RetentionPolicy(
            "audit_trail", 5 * _YEAR, "the event", "PMLA/FICA and POPIA s19: evidence of processing and access"
        ),
        RetentionPolicy(
            "account_active_plus_1y",
            _YEAR,
            "the account is closed",
            "POPIA s14: no longer than needed; one year covers disputes and chargebacks",
        ),
        RetentionPolicy("mfa_secrets", None, "the MFA device is enrolled", "Security: deleted when the device is"),
        RetentionPolicy("session", timedelta(days=1), "the session ends", "Security: sessions expire"),
        RetentionPolicy(
            "consent_records",
            5 * _YEAR,
            "the consent is withdrawn or the relationship ends",
            "POPIA s11(2)(a): the responsible party bears the burden of proof of consent",
        ),
        RetentionPolicy(
            "dsar_records", 5 * _YEAR, "the request is closed", "POPIA s23-s25, PAIA: proof of handling requests"
        ),
        RetentionPolicy(
            "dsar_export_7d", timedelta(days=7), "the export is produced", "Minimisation: download window only"
        ),
        RetentionPolicy(
            "marketing_until_withdrawn", None, "consent is in force", "POPIA s69: direct marketing only with consent"
        ),
    )
}
