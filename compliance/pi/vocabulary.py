"""The regulated vocabulary, declared once: data categories, lawful bases (POPIA s11), erasure
behaviours, processing purposes and retention policies. Everything else (models, seeds, checks,
the admin, the inventory) refers to these codes; system checks refuse a code not declared here.

Purposes and retention policies are also rows the information officer edits (``ProcessingPurpose``,
``RetentionPolicy``). The rows are seeded from these declarations (``compliance.consent.seed``,
``compliance.retention.seed``; migrations carry frozen copies, never an import of this module) and
an existing row is never overwritten: from then on the row is what the product reads (the purge and
erasure both date records from the ``RetentionPolicy`` row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from django.db import models


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

# Revealing a masked value in the admin (compliance/audit/admin.py PIMaskedAdmin) needs the
# permission of the value's category (declared on compliance.PIInventory, granted to roles in
# accounts/roles.py). Card data (PAN) is revealed in the admin by no role: the full number is read
# only through the card-reveal API with a recent MFA (ledger/cards/services.py).
REVEAL_PERMISSIONS = {category: f"compliance.reveal_{category.value}" for category in Category}


class LawfulBasis(models.TextChoices):
    """POPIA s11(1)(a)-(f): the one lawful-basis vocabulary (PI annotations, purposes, the admin)."""

    CONSENT = "consent", "Consent (s11(1)(a))"
    CONTRACT = "contract", "Performance of a contract (s11(1)(b))"
    LEGAL_OBLIGATION = "legal_obligation", "Obligation imposed by law (s11(1)(c))"
    # s11(1)(d) is not the GDPR's "vital interest": it protects a legitimate interest of the subject.
    SUBJECT_LEGITIMATE_INTEREST = (
        "subject_legitimate_interest",
        "Protects a legitimate interest of the data subject (s11(1)(d))",
    )
    PUBLIC_LAW_DUTY = "public_law_duty", "Public law duty (s11(1)(e))"
    LEGITIMATE_INTEREST = "legitimate_interest", "Legitimate interest of the responsible party (s11(1)(f))"


LAWFUL_BASIS_REFERENCES = {
    LawfulBasis.CONSENT: "POPIA s11(1)(a): the data subject consents",
    LawfulBasis.CONTRACT: "POPIA s11(1)(b): necessary for a contract with the data subject",
    LawfulBasis.LEGAL_OBLIGATION: "POPIA s11(1)(c): complies with an obligation imposed by law",
    LawfulBasis.SUBJECT_LEGITIMATE_INTEREST: "POPIA s11(1)(d): protects a legitimate interest of the data subject",
    LawfulBasis.PUBLIC_LAW_DUTY: "POPIA s11(1)(e): proper performance of a public law duty",
    LawfulBasis.LEGITIMATE_INTEREST: "POPIA s11(1)(f): legitimate interest of the responsible party",
}

# s11(3)(a): a subject may object to processing justified by s11(1)(d)-(f); s11(3)(b): to direct
# marketing, which on this platform is always consent-based (and consent can be withdrawn anyway).
OBJECTABLE_BASES = frozenset(
    {
        LawfulBasis.CONSENT,
        LawfulBasis.SUBJECT_LEGITIMATE_INTEREST,
        LawfulBasis.PUBLIC_LAW_DUTY,
        LawfulBasis.LEGITIMATE_INTEREST,
    }
)


class Erasure(StrEnum):
    """What a deletion request does to the field."""

    DELETE = "delete"  # the row goes
    NULL = "null"  # the value is cleared
    PSEUDONYMISE = "pseudonymise"  # replaced by a stable, non-identifying token
    RETAIN_UNDER_LEGAL_DUTY = "retain_under_legal_duty"  # kept until the retention end, then purged


@dataclass(frozen=True)
class Purpose:
    """A processing purpose (POPIA s13) with the notice first published for it (s18).

    ``not_restrictable``: empty when a restriction (s14(6)) or objection (s11(3)) stops the
    purpose's processing (its consumers ask ``may_process``); otherwise the legal reason it cannot
    be stopped, which the DSAR filing refuses with, shown to the subject and the officer.
    ``when_restricted`` says what stops and what continues (the ADR 0004 decision table).
    """

    code: str
    name: str
    lawful_basis: LawfulBasis
    data_categories: tuple[Category, ...]
    description: str
    notice: str
    when_restricted: str
    not_restrictable: str = ""
    # POPIA s69 direct marketing (ours or partners'): an objection takes effect when it is filed,
    # before any review (s11(3)(b): the law gives the responsible party no ground to refuse it).
    direct_marketing: bool = False

    @property
    def consent_required(self) -> bool:
        return self.lawful_basis == LawfulBasis.CONSENT

    @property
    def restrictable(self) -> bool:
        return not self.not_restrictable


PURPOSES: dict[str, Purpose] = {
    p.code: p
    for p in (
        Purpose(
            "account_management",
            "Account management",
            LawfulBasis.CONTRACT,
            (Category.IDENTITY, Category.CONTACT),
            "Opening and running your account: identifying you at login, keeping your profile, and sending "
            "you service messages about your account.",
            "We use your name, e-mail address and login details to open and run your account and to send "
            "you messages about it. We need this to provide the service you signed up for (POPIA "
            "s11(1)(b)); without it we cannot open an account. You may ask to see or correct this "
            "information at any time.",
            when_restricted="Not restrictable: the account keeps running while it exists.",
            not_restrictable="Running the account you hold is the contract itself (POPIA s11(1)(b)): it cannot "
            "be paused while the account exists. To stop it, close the account or ask for deletion (s24); to "
            "contest the accuracy of your details, ask for a correction.",
        ),
        Purpose(
            "kyc",
            "Identity verification (KYC)",
            LawfulBasis.LEGAL_OBLIGATION,
            (Category.IDENTITY, Category.CONTACT),
            "Verifying your identity before money moves, as the Financial Intelligence Centre Act (FICA) "
            "requires, and keeping the records it prescribes.",
            "The Financial Intelligence Centre Act requires us to verify your identity (ID number, date of "
            "birth, address) and to keep these records for five years after our relationship ends (POPIA "
            "s11(1)(c)). This processing does not depend on your consent.",
            when_restricted="Periodic (non-essential) KYC re-checks pause for the subject; verification before "
            "money moves and FICA record-keeping (s21, s22) continue, as s14(6)(b) allows.",
        ),
        Purpose(
            "payments",
            "Payments and wallet",
            LawfulBasis.CONTRACT,
            (Category.FINANCIAL, Category.CARD),
            "Deposits, withdrawals and transfers you ask for, and the statements of your wallet.",
            "We process your bank account, card and transaction details to carry out the deposits, "
            "withdrawals and transfers you ask for and to give you statements (POPIA s11(1)(b)). Card "
            "numbers are stored encrypted and the CVV is never stored.",
            when_restricted="Not restrictable: a payment runs only on the subject's own instruction.",
            not_restrictable="A payment is processed only when you instruct it (POPIA s11(1)(b)), and FICA s22A "
            "requires us to keep the record of every transaction: a restriction cannot stop either. To stop "
            "payments, stop instructing them or close the account.",
        ),
        Purpose(
            "fraud_prevention",
            "Fraud and financial-crime prevention",
            LawfulBasis.LEGAL_OBLIGATION,
            (Category.IDENTITY, Category.FINANCIAL),
            "Monitoring transactions to detect fraud and money laundering and to report suspicious "
            "activity, as FICA requires; also in our legitimate interest in a safe service.",
            "We monitor transactions and account activity to prevent fraud and money laundering and to "
            "report suspicious transactions as FICA requires (POPIA s11(1)(c), and our legitimate interest "
            "under s11(1)(f)). This processing does not depend on your consent.",
            when_restricted="Not restrictable: FICA monitoring and reporting continue.",
            not_restrictable="FICA s29 obliges us to monitor and report suspicious transactions, and forbids "
            "telling anyone that a report was made (s29(3)); POPIA s14(6)(b)-(d) lets restricted information "
            "be processed for the protection of rights and the public interest.",
        ),
        Purpose(
            "direct_marketing",
            "Direct marketing by us",
            LawfulBasis.CONSENT,
            (Category.CONTACT,),
            "Sending you offers about our own products by e-mail, only if you opt in.",
            "With your consent we will send you news and offers about our own products by e-mail (POPIA "
            "s69). This is optional: nothing happens unless you opt in, and you can withdraw at any time in "
            "the app, as easily as you gave it; every message also tells you how to stop them.",
            when_restricted="The marketing-audience export leaves the subject out.",
            direct_marketing=True,
        ),
        Purpose(
            "analytics",
            "Analytics and product improvement",
            LawfulBasis.CONSENT,
            (Category.CONTACT, Category.FINANCIAL),
            "Analysing how you use the service to improve it, only if you agree.",
            "With your consent we analyse how you use the app (features used, transaction patterns, in "
            "aggregate where possible) to improve our products. This is optional and you can withdraw at "
            "any time.",
            when_restricted="The usage-analytics export leaves the subject out.",
        ),
        Purpose(
            "third_party_marketing_sharing",
            "Sharing with partners for their marketing",
            LawfulBasis.CONSENT,
            (Category.CONTACT,),
            "Sharing your name and e-mail address with selected partners so they can market their products "
            "to you, only if you opt in.",
            "With your consent we share your name and e-mail address with selected partners who may send you "
            "offers for their own products (POPIA s69). This is optional: nothing is shared unless you opt "
            "in, and you can withdraw at any time; partners are told to stop.",
            when_restricted="The partner-sharing export leaves the subject out.",
            direct_marketing=True,
        ),
        Purpose(
            "legal_compliance",
            "Records the law requires",
            LawfulBasis.LEGAL_OBLIGATION,
            (Category.IDENTITY, Category.FINANCIAL),
            "Keeping and reporting the records the law requires: FICA, tax and PAIA, and the evidence of how "
            "we handled your consents and requests.",
            "The law requires us to keep certain records (FICA customer and transaction records, tax records, "
            "the evidence of your consents and requests) for set periods and to report to regulators (POPIA "
            "s11(1)(c)). This processing does not depend on your consent.",
            when_restricted="Not restrictable: record-keeping the law requires continues.",
            not_restrictable="These are records the law requires us to keep and report (FICA s22-s23, tax law, "
            "POPIA s11(2)(a), PAIA); POPIA s14(6) lets restricted information still be stored and used as "
            "proof, so a restriction cannot stop this.",
        ),
        Purpose(
            "security",
            "Security of the service",
            LawfulBasis.LEGAL_OBLIGATION,
            (Category.IDENTITY, Category.CONTACT),
            "Authentication, two-factor codes, records of access and the investigation of incidents.",
            "We use your login details, two-factor device and records of access to keep your account and our "
            "systems secure and to investigate incidents, as POPIA s19 requires of us (s11(1)(c)). This "
            "processing does not depend on your consent.",
            when_restricted="Not restrictable: login security and access records continue.",
            not_restrictable="POPIA s19 obliges us to secure the information we hold: login security, access "
            "records and incident investigation protect your own account and cannot be paused.",
        ),
    )
}


DIRECT_MARKETING_PURPOSES = frozenset(code for code, purpose in PURPOSES.items() if purpose.direct_marketing)
# POPIA s18(1)(e) and s23(1)(b): who receives the information processed for each purpose (the
# categories of recipients, never named people), told to the subject in notices and exports.
PURPOSE_RECIPIENTS: dict[str, str] = {
    "account_management": "our staff who run accounts (customer support, operations); our hosting provider",
    "kyc": "our operations staff; the Financial Intelligence Centre when the law requires a report",
    "payments": "your bank and ours; the card processor and payment networks that carry a payment",
    "fraud_prevention": "our fraud and operations staff; banks and law enforcement when a crime is reported",
    "direct_marketing": "our marketing staff and the mailing service that sends our messages",
    "analytics": "our product staff, only as aggregated, de-identified figures",
    "third_party_marketing_sharing": "partner companies you agreed to share with, for their own marketing",
    "legal_compliance": "regulators (the Information Regulator, the FIC, SARS) and courts, when the law requires",
    "security": "our security and operations staff",
}
# POPIA s18(1)(a)/(b): where each category of information comes from.
CATEGORY_SOURCES: dict[Category, str] = {
    Category.IDENTITY: "you (registration, your profile and identity documents) and our staff who verify them",
    Category.CONTACT: "you (registration and your profile)",
    Category.FINANCIAL: "your transactions on the platform, your bank and the card processor",
    Category.CARD: "you, when you add a card; the card processor",
    Category.SPECIAL: "not collected",
    Category.CHILDREN: "not collected",
}


def purpose_refusal(code: str, kind: str) -> str:
    """Why a restriction or objection (``kind``) on the purpose ``code`` cannot be applied ("" if it can)."""
    purpose = PURPOSES.get(code)
    if purpose is None:
        return f"'{code}' is not a declared processing purpose."
    return purpose.not_restrictable


@dataclass(frozen=True)
class RetentionPolicy:
    code: str
    period: timedelta | None  # None: for as long as the trigger lasts
    trigger: str  # what starts the clock
    reason: str  # the law or need that sets the period
    action: str = "delete"  # "delete" or "anonymise" (compliance.retention.models.RetentionAction)

    def describe_period(self) -> str:
        return describe_period(self.period, self.trigger)


def describe_period(period: timedelta | None, trigger: str) -> str:
    """ "5 years after the transaction date", "while consent is in force" (declarations and rows alike)."""
    if period is None:
        return f"while {trigger}"
    days = period.days
    if days >= 365 and days % 365 == 0:
        amount = f"{days // 365} year{'s' if days // 365 != 1 else ''}"
    elif period < timedelta(days=1):
        amount = f"{int(period.total_seconds() // 3600)} hours"
    else:
        amount = f"{days} days"
    return f"{amount} after {trigger}"


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
        # Housekeeping policies that no PI annotation names but purge targets do.
        RetentionPolicy(
            "auth_tokens",
            timedelta(days=1),
            "the token expires",
            "Security and minimisation (POPIA s14): an expired refresh-token record proves nothing and links a "
            "person to sessions",
        ),
        RetentionPolicy(
            "lockout_records",
            timedelta(days=90),
            "the failed login attempt",
            "Security: 90 days of failed-login records support incident investigation (POPIA s19); older ones "
            "only hold usernames and IP addresses",
        ),
        RetentionPolicy(
            "mfa_devices_closed_accounts",
            timedelta(days=30),
            "the account is deactivated",
            "Minimisation: an MFA secret of a closed account protects nothing; kept 30 days for reactivation",
        ),
        RetentionPolicy(
            "legal_hold_expiry",
            timedelta(0),
            "the retention duty's end date",
            "FICA s23 / POPIA s14: once the legal duty ends the held record may go; insert-only records stay "
            "pseudonymised and the hold is completed",
            action="anonymise",
        ),
    )
}
