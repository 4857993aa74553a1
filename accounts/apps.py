from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import checks, schema  # noqa: F401  (system checks; the OpenAPI auth extension)
        from accounts.retention import register_accounts_targets
        from accounts.services import permission_denied_record
        from accounts.third_party_pi import register_third_party_pi
        from accounts.tokens import install_key_ring_backend
        from kernel.access import set_denial_recorder

        # The PI inventory's entries for simplejwt's and django-axes' tables (not our models).
        register_third_party_pi()
        install_key_ring_backend()  # JWTs signed and verified through the rotating key ring
        _register_jwt_secret()

        # Every refused API call and admin view is audited through this one recorder (kernel.access).
        set_denial_recorder(permission_denied_record)
        register_accounts_targets()  # what the retention purge may remove (SPEC C8)
        _register_correction_handler()  # what an approved DSAR correction may change (SPEC C6)

        # Plumbing, not business logic: keep the role groups in step with the declared
        # permissions after every migrate (permissions appear as apps add models).
        post_migrate.connect(_sync_roles_after_migrate, dispatch_uid="accounts.sync_roles")


def _sync_roles_after_migrate(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    from django.apps import apps

    # Run once per migrate, after the last app's permissions exist (post_migrate is sent for
    # each app that has a models module, in INSTALLED_APPS order).
    from kernel.db_router import KEYS

    if using == KEYS:
        return  # the key store holds the subject keys only (kernel.db_router): no roles there
    with_models = [config for config in apps.get_app_configs() if config.models_module is not None]
    if not with_models or sender.label != with_models[-1].label:
        return
    from accounts.services import roles_sync

    roles_sync(actor=None)


def _register_jwt_secret() -> None:
    # The daily secret check (compliance.secret_rotation.inventory) sees and rotates the JWT signing keys.
    from accounts.tokens import jwt_signing_key_rotate, jwt_signing_key_rotated_at
    from compliance.secret_rotation.inventory import register_secret_source
    from compliance.secret_rotation.models import SecretKind
    from kernel.types import Actor

    def rotate(*, actor: Actor | None = None) -> str:
        key = jwt_signing_key_rotate(actor=actor)
        return f"new signing key {key.kid}; the previous one verifies for the grace window"

    register_secret_source(
        "jwt-signing-key",
        kind=SecretKind.JWT_SIGNING_KEY,
        owner="platform",
        provider="secrets provider",
        rotated_at=jwt_signing_key_rotated_at,
        rotate=rotate,
    )


def _register_correction_handler() -> None:
    from django.core.exceptions import ValidationError

    from accounts.models import User
    from accounts.services import user_email_correct, user_profile_correct
    from compliance.dsar.corrections import CorrectionRefused, register_correction_handler

    def apply(*, actor: User, subject: User, changes: dict[str, str], reference: str) -> None:
        try:
            if "email" in changes:
                # Re-verification: sessions revoked, a reset link to the new address, the old one told.
                user_email_correct(actor=actor, user=subject, email=changes["email"], reference=reference)
            else:
                user_profile_correct(actor=actor, user=subject, reference=reference, **changes)
        except ValidationError as error:
            # The messages describe the rule (e.g. "not a valid phone number"), never the value.
            raise CorrectionRefused("; ".join(error.messages)) from error

    register_correction_handler(fields={"first_name", "last_name", "phone", "email"}, apply=apply)
