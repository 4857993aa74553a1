# Application secrets in Secrets Manager, encrypted with their own CMK, rotated every 30 days by
# the rotation Lambda (var.rotation_lambda_arn). Pods read them as files (External Secrets into the
# fintech-secrets Secret, deploy/k8s): the settings' *_FILE variables. Key rings (field encryption,
# blind index, JWT signing) rotate by adding a new key and keeping the old ones for reading
# (compliance/secret_rotation), so a rotation never locks the app out of its own data.
locals {
  app_secrets = {
    django_secret_key         = "Django SECRET_KEY" # pragma: allowlist secret
    jwt_signing_key           = "JWT signing key ring"
    field_encryption_keys     = "field encryption key ring (AES-GCM)"
    blind_index_keys          = "blind index key ring (HMAC)"
    audit_signing_keys        = "audit checkpoint signing key ring (Ed25519 seeds)"
    metrics_token             = "bearer token for /metrics scrapes"
    database_url              = "application database user's URL (rotated with the RDS rotation function)"
    subject_keys_database_url = "the subject-key store's URL (keystore.tf; rotated with the RDS rotation function)"
    redis_url                 = "Redis URL with its AUTH token"
  }
}

resource "aws_secretsmanager_secret" "app" {
  for_each                = local.app_secrets
  name                    = "fintech/${var.environment}/${each.key}"
  description             = each.value
  kms_key_id              = aws_kms_key.this["secrets"].arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret_rotation" "app" {
  for_each            = local.app_secrets
  secret_id           = aws_secretsmanager_secret.app[each.key].id
  rotation_lambda_arn = var.rotation_lambda_arn
  rotation_rules {
    automatically_after_days = 30
  }
}
