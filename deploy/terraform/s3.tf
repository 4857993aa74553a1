# The sealed audit archive (compliance/archive.py, AUDIT_ARCHIVE_BACKEND=s3): Object Lock in
# COMPLIANCE mode for five years, so no one (root included) can delete or overwrite an exported
# chain segment before then; versioned, encrypted with the audit CMK, never public. Access to it is
# logged to a second bucket that keeps the same protections for its own logs.
resource "aws_s3_bucket" "audit" {
  # checkov:skip=CKV_AWS_144: no cross-region replication: POPIA s72 keeps personal information in South Africa (af-south-1 is the only AWS region there); Object Lock + versioning + multi-AZ S3 storage protect the archive.
  bucket              = "${local.name}-audit-archive"
  object_lock_enabled = true
}

resource "aws_s3_bucket_object_lock_configuration" "audit" {
  bucket = aws_s3_bucket.audit.id
  rule {
    default_retention {
      mode  = "COMPLIANCE"
      years = 5
    }
  }
}

resource "aws_s3_bucket" "access_logs" {
  # checkov:skip=CKV_AWS_144: no cross-region replication, as for the audit bucket (POPIA s72).
  # checkov:skip=CKV_AWS_18: this is the access-log bucket itself; logging it into itself would loop.
  bucket              = "${local.name}-access-logs"
  object_lock_enabled = true
}

resource "aws_s3_bucket_object_lock_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    default_retention {
      mode  = "COMPLIANCE"
      years = 1
    }
  }
}

locals {
  buckets = {
    audit       = aws_s3_bucket.audit
    access_logs = aws_s3_bucket.access_logs
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.buckets
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this["audit"].arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = local.buckets
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_logging" "audit" {
  bucket        = aws_s3_bucket.audit.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "audit-archive/"
}

# Versions past their lock move to cheaper storage; nothing expires before the retention ends.
resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = local.buckets
  bucket   = each.value.id
  rule {
    id     = "archive-tier"
    status = "Enabled"
    filter {}
    transition {
      days          = 90
      storage_class = "GLACIER_IR"
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# Every new object is announced (the integrity checker compares exported heads with the database).
resource "aws_sns_topic" "audit_events" {
  name              = "${local.name}-audit-archive-events"
  kms_master_key_id = aws_kms_key.this["audit"].arn
}

resource "aws_s3_bucket_notification" "this" {
  for_each = local.buckets
  bucket   = each.value.id
  topic {
    topic_arn = aws_sns_topic.audit_events.arn
    events    = ["s3:ObjectCreated:*"]
  }
}

# TLS only, and the archive is append-only even for the app's own role.
resource "aws_s3_bucket_policy" "audit" {
  bucket = aws_s3_bucket.audit.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.audit.arn, "${aws_s3_bucket.audit.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        Sid       = "DenyDeletes"
        Effect    = "Deny"
        Principal = "*"
        Action    = ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutBucketObjectLockConfiguration"]
        Resource  = [aws_s3_bucket.audit.arn, "${aws_s3_bucket.audit.arn}/*"]
      },
    ]
  })
}
