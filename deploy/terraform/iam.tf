# Least privilege per service (IRSA): each Kubernetes service account of deploy/k8s assumes its own
# role, trusted only for that namespace and account name, with only the actions it needs on only
# its own resources.
locals {
  oidc_host = replace(aws_iam_openid_connect_provider.eks.url, "https://", "")
  services = {
    # web: reads its secrets, decrypts them, writes audit-archive segments (never deletes).
    web = {
      secrets = ["django_secret_key", "jwt_signing_key", "field_encryption_keys", "blind_index_keys",
      "audit_signing_keys", "metrics_token", "database_url", "redis_url"]
      audit_write = true
    }
    # worker: the same secrets (it runs the same code), exports and seals the audit archive.
    worker = {
      secrets = ["django_secret_key", "jwt_signing_key", "field_encryption_keys", "blind_index_keys",
      "audit_signing_keys", "database_url", "redis_url"]
      audit_write = true
    }
    # migrate: the migration Job; the database and nothing else.
    migrate = {
      secrets     = ["django_secret_key", "database_url"]
      audit_write = false
    }
    # beat: only schedules; it needs the broker and the database URL, nothing else.
    beat = {
      secrets     = ["django_secret_key", "database_url", "redis_url"]
      audit_write = false
    }
  }
}

data "aws_iam_policy_document" "service_trust" {
  for_each = local.services
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.eks.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = ["system:serviceaccount:${var.kubernetes_namespace}:fintech-${each.key}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "service" {
  for_each = local.services
  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [for name in each.value.secrets : aws_secretsmanager_secret.app[name].arn]
  }
  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this["secrets"].arn]
  }
  dynamic "statement" {
    for_each = each.value.audit_write ? [1] : []
    content {
      sid       = "AppendAuditArchive"
      actions   = ["s3:PutObject", "s3:GetObject", "s3:ListBucket"]
      resources = [aws_s3_bucket.audit.arn, "${aws_s3_bucket.audit.arn}/*"]
    }
  }
  dynamic "statement" {
    for_each = each.value.audit_write ? [1] : []
    content {
      sid       = "EncryptAuditArchive"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [aws_kms_key.this["audit"].arn]
    }
  }
}

resource "aws_iam_role" "service" {
  for_each           = local.services
  name               = "${local.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.service_trust[each.key].json
}

resource "aws_iam_role_policy" "service" {
  for_each = local.services
  name     = "least-privilege"
  role     = aws_iam_role.service[each.key].id
  policy   = data.aws_iam_policy_document.service[each.key].json
}
