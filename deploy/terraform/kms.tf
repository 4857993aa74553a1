# Customer-managed keys, one per kind of data, each rotated yearly by KMS; the key policy gives the
# account root (and so IAM) administration and names the AWS services that may use the key.
locals {
  kms_keys = {
    database = "RDS storage, snapshots and Performance Insights"
    keystore = "the subject-key store's RDS instance (keystore.tf): its own key, not the database's"
    cache    = "ElastiCache at rest"
    audit    = "the S3 audit archive (Object Lock) and the access-log bucket"
    secrets  = "Secrets Manager secrets" # pragma: allowlist secret
    eks      = "Kubernetes secrets in etcd (envelope encryption)"
    logs     = "CloudWatch log groups (VPC flow, EKS control plane, WAF, RDS)"
  }
}

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_111: in a key policy Resource "*" means this key and nothing else; the account administers its own keys.
  # checkov:skip=CKV_AWS_356: same: a key policy cannot name the key's own ARN before the key exists; "*" is the documented form.
  # checkov:skip=CKV_AWS_109: the account root principal is the documented key-policy default, so IAM policies decide who may administer.
  for_each = local.kms_keys
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  dynamic "statement" {
    for_each = each.key == "logs" ? [1] : []
    content {
      sid       = "CloudWatchLogsEncrypt"
      actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
      resources = ["*"]
      principals {
        type        = "Service"
        identifiers = ["logs.${var.region}.amazonaws.com"]
      }
      condition {
        test     = "ArnLike"
        variable = "kms:EncryptionContext:aws:logs:arn"
        values   = ["arn:${data.aws_partition.current.partition}:logs:${var.region}:${data.aws_caller_identity.current.account_id}:*"]
      }
    }
  }
}

resource "aws_kms_key" "this" {
  for_each                = local.kms_keys
  description             = "fintech ${var.environment}: ${each.value}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms[each.key].json
}

resource "aws_kms_alias" "this" {
  for_each      = local.kms_keys
  name          = "alias/${local.name}-${each.key}"
  target_key_id = aws_kms_key.this[each.key].key_id
}

# Short names used across the other files.
locals {
  kms_logs_arn = aws_kms_key.this["logs"].arn
}
