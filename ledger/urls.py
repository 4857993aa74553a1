from django.urls import path

from ledger import views
from ledger.cards import views as views_cards
from ledger.settlement import views as views_settlement

urlpatterns = [
    path("deposits/", views.DepositView.as_view(), name="ledger-deposits"),
    path("withdrawals/", views.WithdrawalView.as_view(), name="ledger-withdrawals"),
    path("transfers/", views.TransferView.as_view(), name="ledger-transfers"),
    path("transfers/batch/", views.TransferBatchView.as_view(), name="ledger-transfer-batch"),
    path("accounts/", views.AccountListView.as_view(), name="ledger-accounts"),
    path("accounts/<uuid:public_id>/", views.AccountDetailView.as_view(), name="ledger-account"),
    path("accounts/<uuid:public_id>/statement/", views.StatementView.as_view(), name="ledger-statement"),
    path("bank-accounts/", views.BankAccountListView.as_view(), name="ledger-bank-accounts"),
    path("kyc/", views.KycView.as_view(), name="ledger-kyc"),
    path("ops/kyc/<uuid:public_id>/decision/", views.KycDecisionView.as_view(), name="ledger-kyc-decision"),
    # Four eyes at tier >= 2 (issue 15): a different operations user approves or rejects the decision.
    path("ops/kyc/<uuid:public_id>/approval/", views.KycApprovalView.as_view(), name="ledger-kyc-approval"),
    path(
        "ops/kyc/<uuid:public_id>/duplicate-clearance/",
        views.KycDuplicateClearanceView.as_view(),
        name="ledger-kyc-duplicate-clearance",
    ),
    path("ops/entries/<uuid:public_id>/reversal/", views.ReversalView.as_view(), name="ledger-reversal"),
    # Four eyes on large reversals (issue 15): one operations user requests, a different one approves.
    path(
        "ops/entries/<uuid:public_id>/reversal-request/",
        views.ReversalRequestView.as_view(),
        name="ledger-reversal-request",
    ),
    path(
        "ops/reversal-requests/<uuid:public_id>/approval/",
        views.ReversalApprovalView.as_view(),
        name="ledger-reversal-approval",
    ),
    # Two-phase settlement (ADR 0005): ledger/settlement/views.py
    path("pending/", views_settlement.PendingMovementListView.as_view(), name="ledger-pending"),
    path("ops/pending/", views_settlement.PendingQueueView.as_view(), name="ledger-pending-queue"),
    path(
        "ops/pending/<uuid:public_id>/statement-line/",
        views_settlement.StatementLineView.as_view(),
        name="ledger-pending-statement-line",
    ),
    path(
        "ops/pending/<uuid:public_id>/confirm/",
        views_settlement.ConfirmationView.as_view(),
        name="ledger-pending-confirm",
    ),
    path("webhooks/card-processor/", views_settlement.CardProcessorWebhookView.as_view(), name="ledger-webhook-card"),
    path("webhooks/bank/", views_settlement.BankWebhookView.as_view(), name="ledger-webhook-bank"),
    # Payment cards (PCI DSS): ledger/cards/views.py
    path("cards/", views_cards.CardListView.as_view(), name="ledger-cards"),
    path("cards/<uuid:public_id>/", views_cards.CardDetailView.as_view(), name="ledger-card"),
    path("ops/cards/<uuid:public_id>/reveal/", views_cards.CardRevealView.as_view(), name="ledger-card-reveal"),
]
