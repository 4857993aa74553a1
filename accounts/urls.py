"""Accounts routes, included under /api/v1/ by fintech/urls.py."""

from django.urls import path

from accounts import views

urlpatterns = [
    path("auth/register/", views.RegisterView.as_view(), name="auth-register"),
    path("auth/token/", views.TokenObtainView.as_view(), name="auth-token"),
    path("auth/token/refresh/", views.TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/password/change/", views.PasswordChangeView.as_view(), name="auth-password-change"),
    path("auth/password/reset/", views.PasswordResetView.as_view(), name="auth-password-reset"),
    path("auth/password/reset/confirm/", views.PasswordResetConfirmView.as_view(), name="auth-password-reset-confirm"),
    path("auth/mfa/totp/", views.TOTPEnrolView.as_view(), name="auth-mfa-totp"),
    path("auth/mfa/totp/confirm/", views.TOTPConfirmView.as_view(), name="auth-mfa-totp-confirm"),
    path("me/", views.MeView.as_view(), name="me"),
]
