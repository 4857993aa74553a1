from django.urls import path

from ledger import views

urlpatterns = [
    path("deposits/", views.DepositView.as_view(), name="ledger-deposits"),
    path("withdrawals/", views.WithdrawalView.as_view(), name="ledger-withdrawals"),
    path("transfers/", views.TransferView.as_view(), name="ledger-transfers"),
    path("accounts/", views.AccountListView.as_view(), name="ledger-accounts"),
    path("accounts/<uuid:public_id>/", views.AccountDetailView.as_view(), name="ledger-account"),
    path("accounts/<uuid:public_id>/statement/", views.StatementView.as_view(), name="ledger-statement"),
    path("bank-accounts/", views.BankAccountListView.as_view(), name="ledger-bank-accounts"),
    path("kyc/", views.KycView.as_view(), name="ledger-kyc"),
    path("ops/kyc/<uuid:public_id>/decision/", views.KycDecisionView.as_view(), name="ledger-kyc-decision"),
    path("ops/entries/<uuid:public_id>/reversal/", views.ReversalView.as_view(), name="ledger-reversal"),
]
