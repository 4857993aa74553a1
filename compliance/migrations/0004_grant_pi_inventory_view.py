"""Grant the information officer and the auditor the right to view the PI inventory page."""

from django.db import migrations

GROUPS = ("information_officer", "auditor")


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create ours now,
    # exactly as post_migrate would (it then finds them present).
    ContentType = apps.get_model("contenttypes", "ContentType")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    content_type, _ = ContentType.objects.get_or_create(app_label="compliance", model="piinventory")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="view_pi_inventory",
        defaults={"name": "Can view the personal-information inventory"},
    )
    for name in GROUPS:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="compliance", codename="view_pi_inventory").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0003_field_key_versions_and_pi_inventory"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
